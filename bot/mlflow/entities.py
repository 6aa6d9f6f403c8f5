"""What mlgov reads from MLflow's REST API, as small values (from MLflow's JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A run's statuses in MLflow (RunStatus); the last three are final.
RUN_STATUSES = ("SCHEDULED", "RUNNING", "FINISHED", "FAILED", "KILLED")
FINAL_RUN_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or ()}


@dataclass(frozen=True)
class Run:
    """One MLflow run: its info, tags and latest scalar metrics."""

    run_id: str
    experiment_id: str
    status: str
    name: str = ""
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_RUN_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        info, values = data.get("info") or {}, data.get("data") or {}
        return cls(
            run_id=str(info.get("run_id") or info.get("run_uuid")),
            experiment_id=str(info.get("experiment_id", "")),
            status=str(info.get("status", "")),
            name=str(info.get("run_name", "")),
            start_time_ms=_int(info.get("start_time")),
            end_time_ms=_int(info.get("end_time")),
            lifecycle_stage=str(info.get("lifecycle_stage", "active")),
            tags=_tags(values.get("tags")),
            metrics={str(m["key"]): float(m["value"]) for m in values.get("metrics") or ()},
        )


@dataclass(frozen=True)
class ArtifactFile:
    """One entry of a run's artifact listing."""

    path: str
    is_dir: bool
    size: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactFile:
        return cls(str(data["path"]), bool(data.get("is_dir")), _int(data.get("file_size")))


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, with its tags and aliases."""

    name: str
    version: str
    run_id: str
    status: str = ""
    created_ms: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            run_id=str(data.get("run_id", "")),
            status=str(data.get("status", "")),
            created_ms=_int(data.get("creation_timestamp")),
            tags=_tags(data.get("tags")),
            aliases=tuple(str(a) for a in data.get("aliases") or ()),
        )


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: its aliases (alias -> version) and tags."""

    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegisteredModel:
        return cls(
            name=str(data["name"]),
            aliases={str(a["alias"]): str(a["version"]) for a in data.get("aliases") or ()},
            tags=_tags(data.get("tags")),
        )


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)
