"""``/exp link EXP-7 mlflow:<run id>``: follow an MLflow run for an experiment, by hand.

Two steps, so that no database transaction waits on MLflow: ``prepare_link`` (no
transaction open) checks the right to link, finds the run and sets its tag
``mlgov.experiment``; ``link_run`` (in the command's transaction) records the link, audits
it and tells the thread. The tag is the link: were the second step lost, the sync would
find the run by its tag.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.domain.commands import AddLink, LinkMlflowRun
from bot.domain.errors import AlreadyExists
from bot.domain.mlflow_runs import TAG, tagged_number
from bot.domain.model import Experiment, experiment_key
from bot.services.experiments import record_link, require_linker
from bot.services.mlflow_import import fetch_run, require_mlflow
from bot.services.ports import Context
from storage.unit_of_work import Database, UnitOfWork


def prepare_link(db: Database, ctx: Context, cmd: LinkMlflowRun) -> LinkMlflowRun | AddLink:
    """Look the run up and tag it; the command with what MLflow said of the run.

    With MLflow off, a pasted run URL is kept as a plain link (as before MLflow was
    known); ``mlflow:<id>`` is refused, saying why.
    """
    if ctx.mlflow is None and cmd.pasted:
        return AddLink(cmd.number, cmd.pasted)
    source = require_mlflow(ctx)
    with db.read() as uow:
        experiment = require_linker(uow, ctx.actor, cmd.number)
    client = source.client
    run = fetch_run(source, cmd.run_id, "nothing was linked")
    tagged = tagged_number(run.tags.get(TAG, ""))
    if tagged is not None and tagged != cmd.number:
        with db.read() as uow:
            if uow.experiments.get(ctx.actor.team_id, tagged) is None:
                tagged = None  # the tag names no experiment here: this link replaces it
    if tagged is not None and tagged != cmd.number:
        raise AlreadyExists(
            f"MLflow run {run.run_id} belongs to {experiment_key(tagged)} (its tag {TAG});"
            " nothing was linked."
        )
    if tagged is None:
        client.set_run_tag(run.run_id, TAG, experiment.key)
    return replace(
        cmd,
        status=run.status,
        name=run.name,
        url=client.run_url(run),
        started_ms=run.start_time_ms,
    )


def link_run(uow: UnitOfWork, ctx: Context, cmd: LinkMlflowRun) -> Experiment:
    """Follow the prepared run for the experiment; audited and told in its thread."""
    if not cmd.url:
        raise AssertionError("a LinkMlflowRun is prepared (prepare_link) before it is run")
    actor = ctx.actor
    experiment = require_linker(uow, actor, cmd.number)
    started = (
        datetime.fromtimestamp(cmd.started_ms / 1000, UTC) if cmd.started_ms is not None else None
    )
    linked = uow.mlflow_runs.link(
        actor.team_id,
        cmd.run_id,
        experiment.id,
        tag=experiment.key,
        status=cmd.status,
        url=cmd.url,
        name=cmd.name,
        linked_by=actor.user_id,
        started_at=started,
        now=ctx.now,
    )
    if not linked:
        known = uow.mlflow_runs.get(actor.team_id, cmd.run_id)
        if known is not None and known.experiment_number == cmd.number:
            raise AlreadyExists(f"MLflow run {cmd.run_id} is linked to {experiment.key} already.")
        # Found by the sync under a tag naming no experiment: this experiment's now.
        uow.mlflow_runs.relink(actor.team_id, cmd.run_id, experiment.id, ctx.now)
    uow.registry.mark_run(cmd.run_id, ctx.now)  # its model versions now carry the gate
    label = f"MLflow run {cmd.name or cmd.run_id}"
    return record_link(
        uow, ctx, experiment, {"url": cmd.url, "label": label, "mlflow_run": cmd.run_id}
    )
