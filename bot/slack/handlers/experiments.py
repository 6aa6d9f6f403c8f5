"""/exp handlers."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import (
    AddLink,
    EditExperiment,
    History,
    LinkMlflowRun,
    ListExperiments,
    NewExperiment,
    OpenNewExperimentForm,
    ShowExperiment,
    Step,
)
from bot.domain.errors import NotFound
from bot.services import experiments as exp
from bot.services import mlflow_links
from bot.services.next_steps import next_steps
from bot.services.ports import Context
from bot.slack.blocks import Reply, escape, forms, reply
from bot.slack.blocks import experiments as render
from bot.slack.blocks import mlflow as mlflow_render
from storage.unit_of_work import UnitOfWork


def new(uow: UnitOfWork, ctx: Context, cmd: NewExperiment) -> Reply:
    e = exp.create_experiment(uow, ctx, cmd)
    return reply(
        f"Created *{e.key}* {escape(e.title)} in {e.project}; its thread is in the project"
        " channel.",
        render.card(e),
    )


def form(uow: UnitOfWork, ctx: Context, cmd: OpenNewExperimentForm) -> Reply:
    slugs = [p.slug for p in exp.readable_projects(uow, ctx.actor)]
    if not slugs:
        raise NotFound("You are on no project yet; ask a manager to add you.")
    return Reply(text="New experiment", modal=forms.new_experiment_form(slugs))


def listing(uow: UnitOfWork, ctx: Context, cmd: ListExperiments) -> Reply:
    return render.listing(exp.list_experiments(uow, ctx, cmd), _describe(cmd))


def show(uow: UnitOfWork, ctx: Context, cmd: ShowExperiment) -> Reply:
    e = exp.show_experiment(uow, ctx, cmd.number)
    runs = mlflow_render.linked_runs(uow.mlflow_runs.of_experiment(e.id))
    return render.show(e, next_steps(uow, e), runs)


def edit(uow: UnitOfWork, ctx: Context, cmd: EditExperiment) -> Reply:
    e = exp.edit_experiment(uow, ctx, cmd)
    return reply(f"{e.key} edited.", render.card(e, steps=next_steps(uow, e)))


def history(uow: UnitOfWork, ctx: Context, cmd: History) -> Reply:
    return render.history(*exp.experiment_history(uow, ctx, cmd.number))


def step(uow: UnitOfWork, ctx: Context, cmd: Step) -> Reply:
    moved = exp.take_step(
        uow, ctx, cmd.number, cmd.step, force=cmd.force, outcome=cmd.outcome, text=cmd.text
    )
    e = moved.after
    note = " (past a WIP limit, by --force; logged)" if moved.forced else ""
    return reply(f"{e.key}: {moved.before.status} → {e.status}{note}.", render.card(e))


def link(uow: UnitOfWork, ctx: Context, cmd: AddLink) -> Reply:
    e = exp.add_link(uow, ctx, cmd.number, cmd.url, cmd.label)
    return reply(f"Link added to {e.key}.", render.card(e, with_buttons=False))


def link_mlflow_run(uow: UnitOfWork, ctx: Context, cmd: LinkMlflowRun) -> Reply:
    e = mlflow_links.link_run(uow, ctx, cmd)
    return reply(
        f"MLflow run {cmd.name or cmd.run_id} linked to {e.key}: mlgov follows it (job"
        " mlflow-sync) and imports its predictions when it finishes.",
        render.card(e, with_buttons=False),
    )


def _describe(query: ListExperiments) -> str:
    parts = [
        "yours" if query.mine else "",
        "all" if query.everything else "",
        query.status.value if query.status else "",
        f"<@{query.user_id}>" if query.user_id else "",
        f"project {query.project}" if query.project else "",
    ]
    return ", ".join(p for p in parts if p) or "active, on your projects"


HANDLERS: dict[type, Any] = {
    NewExperiment: new,
    OpenNewExperimentForm: form,
    ListExperiments: listing,
    ShowExperiment: show,
    History: history,
    Step: step,
    EditExperiment: edit,
    AddLink: link,
    LinkMlflowRun: link_mlflow_run,
}
