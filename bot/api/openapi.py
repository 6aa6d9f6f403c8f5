"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

tests/e2e/test_read_api_http.py validates it with openapi-spec-validator and every
route's answers against it with openapi-core, over real HTTP: what is written here is
what the routes answer.
"""

from __future__ import annotations

from typing import Any

from bot.api.reads import DEFAULT_LIMIT, DEFAULT_WEEKS, MAX_LIMIT, MAX_WEEKS
from bot.domain.evaluation import Kind
from bot.domain.model import Outcome, Status, Workstream
from bot.domain.review import ReviewKind, Verdict
from bot.domain.rotation import WEEKDAYS, Topic

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(schema: Schema) -> Schema:
    if "type" in schema and isinstance(schema["type"], str):
        nullable = {**schema, "type": [schema["type"], "null"]}
        if "enum" in schema:
            nullable["enum"] = [*schema["enum"], None]
        return nullable
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], *, closed: bool = True) -> Schema:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": not closed,
    }


STRING: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
KEY: Schema = {"type": "string", "pattern": "^EXP-[1-9][0-9]*$", "examples": ["EXP-7"]}
USER: Schema = {"type": "string", "description": "A Slack user id (or a pipeline: api, cli)."}
KEY_PARAM: Schema = {
    "type": "string",
    "pattern": "^[Ee][Xx][Pp]-[1-9][0-9]*$",
    "description": "An experiment key, in any case.",
}
FREE: Schema = {"type": "object", "additionalProperties": True}


def _enum(values: Any) -> Schema:
    return {"type": "string", "enum": [str(getattr(v, "value", v)) for v in values]}


EXPERIMENT: dict[str, Schema] = {
    "key": KEY,
    "number": INT,
    "project": STRING,
    "title": STRING,
    "hypothesis": STRING,
    "owner": USER,
    "workstream": _enum(Workstream),
    "status": _enum(Status),
    "outcome": _or_null(_enum(Outcome)),
    "learnings": STRING,
    "criterion": _or_null(_ref("Criterion")),
    "criterion_changed_after_start": BOOL,
    "created_at": TIME,
    "updated_at": TIME,
    "url": {**STRING, "description": "This experiment's record in this API."},
}
DECISION: dict[str, Schema] = {
    "reviewer": USER,
    "approve": BOOL,
    "at": TIME,
    "conclusion": {**INT, "description": "The conclusion the reviewer saw."},
    "evaluation": _or_null({**INT, "description": "The evaluation the reviewer saw."}),
    "dismissed": {**BOOL, "description": "Newer results came after it."},
    "text": STRING,
}


SCHEMAS: dict[str, Schema] = {
    "Problem": _object(
        {
            "type": STRING,
            "title": STRING,
            "status": INT,
            "detail": STRING,
            "error": {**STRING, "description": "The detail again (older clients read it)."},
        }
    ),
    "Criterion": _object(
        {"metric": STRING, "direction": _enum(("higher", "lower")), "min_delta": NUMBER}
    ),
    "Experiment": _object(EXPERIMENT),
    "ExperimentPage": _object(
        {
            "items": {"type": "array", "items": _ref("Experiment")},
            "total": {**INT, "description": "Experiments matching, on every page."},
            "limit": INT,
            "next_cursor": _or_null(STRING),
            "next": _or_null({**STRING, "description": "The next page's path and query."}),
        }
    ),
    "Decision": _object(DECISION),
    "Review": _object(
        {
            "id": INT,
            "kind": _enum(ReviewKind),
            "requested_by": USER,
            "requested_at": TIME,
            "open": BOOL,
            "needs_reviewer": BOOL,
            "assignments": {
                "type": "array",
                "items": _object(
                    {
                        "reviewer": USER,
                        "assigned_at": TIME,
                        "verdict": _enum(Verdict),
                        "decided_at": _or_null(TIME),
                    }
                ),
            },
            "decisions": {"type": "array", "items": _ref("Decision")},
        }
    ),
    "Evaluation": _object(
        {
            "id": INT,
            "kind": _enum(Kind),
            "source": STRING,
            "filename": STRING,
            "submitted_by": USER,
            "created_at": TIME,
            "rows": _or_null(INT),
            "baseline_evaluation": _or_null(INT),
            "summary": {**FREE, "description": "The metric summary against the baseline."},
        }
    ),
    "HistoryEntry": _object(
        {
            "at": TIME,
            "actor": USER,
            "action": STRING,
            "from": _or_null(STRING),
            "to": _or_null(STRING),
            "detail": FREE,
        }
    ),
    "ExperimentDetail": _object(
        {
            **EXPERIMENT,
            "links": {
                "type": "array",
                "items": _object(
                    {"url": STRING, "label": STRING, "added_by": USER, "added_at": TIME}
                ),
            },
            "reviews": {"type": "array", "items": _ref("Review")},
            "decisions": {
                "type": "array",
                "items": _object(
                    {"review": INT, "kind": _enum(ReviewKind), **DECISION},
                ),
            },
            "evaluations": {"type": "array", "items": _ref("Evaluation")},
            "history": {"type": "array", "items": _ref("HistoryEntry")},
        }
    ),
    "Meeting": _object(
        {
            "date": {"type": "string", "format": "date"},
            "starts_at": {**TIME, "description": "In the team's time zone."},
            "topic": _enum(Topic),
            "stands_in_for": _or_null(_enum(Topic)),
            "presenter": _or_null(USER),
            "skipped": {
                "type": "array",
                "items": _object({"user": USER, "reason": STRING}),
            },
            "swapped_from": _or_null(USER),
            "cancelled": {
                **BOOL,
                "description": "Skipped by a manager (`/rotation skip`): no meeting that week.",
            },
            "reason": _or_null(
                {**STRING, "description": 'Why it was skipped ("" when no reason was given).'}
            ),
        }
    ),
    "Rotation": _object(
        {
            "project": STRING,
            "config": _object(
                {
                    "weekday": _enum(WEEKDAYS),
                    "time": STRING,
                    "announce": STRING,
                    "timezone": STRING,
                    "pattern": {"type": "array", "items": _enum(Topic)},
                }
            ),
            "meetings": {"type": "array", "items": _ref("Meeting")},
            "note": _or_null({**STRING, "description": "Set when Slack statuses were unread."}),
        }
    ),
    "Digest": _object(
        {
            "project": STRING,
            "week": _object(
                {"iso": {**STRING, "examples": ["2026-W48"]}, "start": TIME, "end": TIME}
            ),
            "so_far": _or_null({**TIME, "description": "Set for the week in progress."}),
            "board": {"type": "object", "additionalProperties": INT},
            "wip": {
                "type": "array",
                "items": _object(
                    {
                        "owner": _or_null(USER),
                        "workstream": _or_null(STRING),
                        "in_flight": INT,
                        "limit": INT,
                        "in_flight_everywhere": INT,
                        "over": BOOL,
                    }
                ),
            },
            "movements": {"type": "object", "additionalProperties": INT},
            "moved": {"type": "object", "additionalProperties": {"type": "array", "items": KEY}},
            "velocity": {
                "type": "array",
                "items": _object(
                    {"week": STRING, "concluded": {"type": "object", "additionalProperties": INT}}
                ),
            },
            "cycle_time_days": _or_null(NUMBER),
            "review_latency_days": _or_null(NUMBER),
            "pending_reviews": {
                "type": "array",
                "items": _object(
                    {
                        "experiment": KEY,
                        "title": STRING,
                        "reviewer": _or_null(USER),
                        "review": INT,
                        "age_days": _or_null(NUMBER),
                        "working_days": INT,
                        "overdue": BOOL,
                        "needs_reviewer": BOOL,
                    }
                ),
            },
            "stale": {
                "type": "array",
                "items": _object(
                    {
                        "experiment": KEY,
                        "title": STRING,
                        "owner": USER,
                        "idle_days": INT,
                        "status": STRING,
                    }
                ),
            },
            "best_movement": _or_null(
                _object(
                    {
                        "experiment": KEY,
                        "metric": STRING,
                        "delta": _or_null(NUMBER),
                        "improvement": _or_null(NUMBER),
                        "criterion_met": _or_null(BOOL),
                        "baseline": _or_null(KEY),
                    }
                )
            ),
            "next_rotation": _or_null(_ref("Meeting")),
        }
    ),
    "EvaluationRecorded": _object(
        {
            "evaluation": INT,
            "experiment": KEY,
            "baseline": _or_null(KEY),
            "verdict": _or_null(STRING),
            "criterion_met": _or_null(BOOL),
            "criterion": FREE,
            "approvals_dismissed": INT,
            "summary": FREE,
        }
    ),
}


def _problem(description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Schema]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        },
        "400": _problem("A parameter is malformed, unknown or out of range."),
        "401": _problem("No bearer token, or a wrong one."),
        "403": _problem("The API is off, or the token may not do this."),
        "404": _problem("No such experiment, project or workspace."),
        "503": _problem("The database is busy or down: try again shortly."),
    }


def _query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


TEAM = _query(
    "team",
    "The workspace (a Slack team id); needed only when this mlgov serves several.",
    {"type": "string", "pattern": "^T[A-Z0-9]+$"},
)
PROJECT = _path("project", {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,39}$"})


def document() -> Schema:
    """The OpenAPI 3.1 document of every /api/v1 route."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mlgov API",
            "version": "1",
            "description": (
                "Read what mlgov knows (experiments, reviews, evaluations, digests, the"
                " rotation) with MLGOV_API_READ_TOKEN or MLGOV_API_TOKEN; push evaluations"
                " with MLGOV_API_TOKEN. Errors are problem bodies (RFC 9457). A method a"
                " path does not list here is answered 405 (components.responses."
                "MethodNotAllowed), with Allow naming the methods it lists."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/experiments": {
                "get": {
                    "operationId": "listExperiments",
                    "summary": "Experiments, newest first, a page at a time",
                    "parameters": [
                        _query("project", "Only this project's (its slug).", STRING),
                        _query(
                            "status",
                            "Only these statuses, comma-separated.",
                            {"type": "string", "examples": ["running,analyzing"]},
                        ),
                        _query("owner", "Only this owner's (a Slack user id).", STRING),
                        _query(
                            "limit",
                            f"Experiments per page (default {DEFAULT_LIMIT}).",
                            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        ),
                        _query("cursor", "The next_cursor of the page before.", STRING),
                        TEAM,
                    ],
                    "responses": _ok("ExperimentPage", "One page of experiments."),
                }
            },
            "/api/v1/experiments/{key}": {
                "get": {
                    "operationId": "showExperiment",
                    "summary": "One experiment: links, reviews, decisions, evaluations, history",
                    "parameters": [_path("key", KEY_PARAM), TEAM],
                    "responses": _ok("ExperimentDetail", "The experiment."),
                }
            },
            "/api/v1/experiments/{key}/evaluations": {
                "post": {
                    "operationId": "submitEvaluation",
                    "summary": "Push an evaluation (predictions or scalar metrics)",
                    "parameters": [
                        _path("key", KEY_PARAM),
                        TEAM,
                        _query("kind", "Force the kind.", _enum(Kind)),
                        _query("filename", "Shown in the thread.", STRING),
                        _query(
                            "new_holdout",
                            "A new held-out set: not compared with the baseline.",
                            {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no"]},
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {"schema": FREE},
                            "application/octet-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        **_ok("EvaluationRecorded", "Recorded and posted.", "201"),
                        "409": _problem("The experiment cannot take results now."),
                        "413": _problem("The file is too large."),
                    },
                }
            },
            "/api/v1/projects/{project}/digest": {
                "get": {
                    "operationId": "projectDigest",
                    "summary": "A week's digest figures, as the weekly DM computes them",
                    "parameters": [
                        PROJECT,
                        _query(
                            "week",
                            "An ISO week (default: the last complete one).",
                            {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
                        ),
                        TEAM,
                    ],
                    "responses": _ok("Digest", "The digest's figures."),
                }
            },
            "/api/v1/projects/{project}/rotation": {
                "get": {
                    "operationId": "projectRotation",
                    "summary": "The next meetings, exactly as /rotation show lists them",
                    "parameters": [
                        PROJECT,
                        _query(
                            "weeks",
                            f"How many meetings (default {DEFAULT_WEEKS}).",
                            {"type": "integer", "minimum": 1, "maximum": MAX_WEEKS},
                        ),
                        TEAM,
                    ],
                    "responses": _ok("Rotation", "The meetings ahead."),
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": FREE}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            # Only a method no operation lists gets it, so no operation refers to it.
            "responses": {
                "MethodNotAllowed": {
                    **_problem("This path does not take that method."),
                    "headers": {
                        "Allow": {
                            "description": "The methods the path takes, comma-separated.",
                            "schema": STRING,
                        }
                    },
                }
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "MLGOV_API_READ_TOKEN (read) or MLGOV_API_TOKEN (read, write).",
                }
            },
        },
    }
