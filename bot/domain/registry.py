"""The gate in MLflow's model registry (SPEC §12): pure rules over plain values.

A model version of a run linked to an experiment carries the engineering gate (SPEC §3)
as tags. The gate is the one in ``bot.domain.review``; scheduled and shipped experiments
went through it on their way. mlgov writes only its own tags (``mlgov.*``): it never moves
an alias or deletes anything of anyone else's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.mlflow_runs import TAG
from bot.domain.model import Experiment, Status
from bot.domain.review import Review, gate

GATE = "mlgov.gate"
REASONS = "mlgov.gate.reasons"
EXPERIMENT = TAG  # mlgov.experiment: on runs and, by mlgov, on their model versions
APPROVED_BY = "mlgov.approved_by"
EVALUATION = "mlgov.evaluation"
OWN_TAGS = (GATE, REASONS, EXPERIMENT, APPROVED_BY, EVALUATION)
BLOCKED, PASSED = "blocked", "passed"
# MLflow caps a model version tag's value at 5,000 characters.
MAX_TAG_VALUE = 5000

# The registry events mlgov acts on, as MLflow names them (entity, action).
CREATED = ("model_version", "created")
ALIAS_CREATED = ("model_version_alias", "created")
TAG_SET = ("model_version_tag", "set")
HANDLED = (CREATED, ALIAS_CREATED, TAG_SET)
MAX_NAME = 256  # MLflow's limit on a registered model's name
# Inbox rows of MLflow deliveries: no Slack workspace sent them (a team id starts with T
# or E); the model version's experiment says whose they are.
INBOX_KIND = INBOX_SENDER = "mlflow"


@dataclass(frozen=True)
class RegistryEvent:
    """Something happened to one model version: look at it (``alias``, ``tag``: what)."""

    model: str
    version: str
    action: str  # created | alias | tag
    alias: str | None = None
    tag: tuple[str, str] | None = None


def parse_delivery(body: Any) -> RegistryEvent | None:
    """The event of a webhook body (``{"entity","action","timestamp","data"}``); None for
    an event mlgov does not act on; ValidationError when the body is malformed."""
    if not isinstance(body, dict):
        raise ValidationError("the body is not a JSON object")
    entity, action, data = body.get("entity"), body.get("action"), body.get("data")
    if not isinstance(entity, str) or not isinstance(action, str):
        raise ValidationError("the body has no entity and action")
    if (entity, action) not in HANDLED:
        return None
    if not isinstance(data, dict):
        raise ValidationError(f"the {entity}.{action} body has no data object")
    model, version = _text(data, "name", MAX_NAME), _version(data)
    if (entity, action) == CREATED:
        return RegistryEvent(model, version, "created")
    if (entity, action) == ALIAS_CREATED:
        return RegistryEvent(model, version, "alias", alias=_text(data, "alias", 256))
    value = data.get("value")
    if not isinstance(value, str):
        raise ValidationError("model_version_tag.set data has no string value")
    return RegistryEvent(model, version, "tag", tag=(_text(data, "key", 250), value))


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValidationError(f"data.{name} must be a string of 1 to {limit} characters")
    return value


def _version(data: Mapping[str, Any]) -> str:
    value = data.get("version")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ValidationError("data.version must be a model version number")
    return text


def registry_gate(experiment: Experiment, review: Review | None, quorum: int) -> list[str]:
    """Every reason a model of ``experiment`` has not passed the gate (empty: it has).

    Approved experiments must still meet it; scheduled and shipped ones were let through
    by it (``/exp schedule`` is the gate), and a rule changed since does not undo that."""
    if experiment.status in (Status.SCHEDULED, Status.SHIPPED):
        return []
    return gate(experiment, review, quorum)


@dataclass(frozen=True)
class GateTags:
    """The ``mlgov.*`` tags a model version should carry, and those to take off it."""

    set: dict[str, str]
    remove: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.set.get(GATE) == PASSED

    def changes(self, current: Mapping[str, str]) -> GateTags:
        """Only what differs from the version's ``current`` tags."""
        return GateTags(
            {k: v for k, v in self.set.items() if current.get(k) != v},
            tuple(k for k in self.remove if k in current),
        )

    def empty(self) -> bool:
        return not self.set and not self.remove


def gate_tags(
    experiment: Experiment, unmet: list[str], approved_by: list[str], evaluation: str
) -> GateTags:
    """The tags for a version of ``experiment``: blocked with the reasons, or passed with
    who approved which evaluation (the tags of the other state come off)."""
    if unmet:
        reasons = "; ".join(unmet)
        tags = {GATE: BLOCKED, REASONS: _fit(reasons), EXPERIMENT: experiment.key}
        return GateTags(tags, (APPROVED_BY, EVALUATION))
    tags = {
        GATE: PASSED,
        EXPERIMENT: experiment.key,
        APPROVED_BY: _fit(", ".join(approved_by) or "none"),
        EVALUATION: _fit(evaluation or "none"),
    }
    return GateTags(tags, (REASONS,))


def _fit(value: str) -> str:
    return value if len(value) <= MAX_TAG_VALUE else value[: MAX_TAG_VALUE - 1] + "…"


def is_echo(event: RegistryEvent, wanted: Mapping[str, str]) -> bool:
    """A tag mlgov set itself (MLflow tells every webhook of it): nothing to look at."""
    return event.tag is not None and wanted.get(event.tag[0]) == event.tag[1]


def warnings_due(aliases: tuple[str, ...], warned: tuple[str, ...]) -> tuple[str, ...]:
    """What to warn about for a blocked version: its registration (``registered``) and each
    alias on it, once each; ``warned``: what its warnings said before."""
    due = ["registered", *(f"alias:{a}" for a in aliases)]
    return tuple(event for event in due if event not in warned)


@dataclass(frozen=True)
class KnownVersion:
    """A model version mlgov has looked at, as it stands in mlgov's records."""

    id: int
    model: str
    version: str
    run_id: str | None
    experiment_id: int | None
    gate: str  # blocked | passed | "" (its run belongs to no experiment)
    wanted: dict[str, str]
    aliases: tuple[str, ...]
    warned: tuple[str, ...]
    due_seq: int
    attempts: int
