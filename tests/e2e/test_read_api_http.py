"""The read API over real HTTP (SPEC §13), every answer checked against the served OpenAPI
document: the document with openapi-spec-validator, requests and responses with
openapi-core.

churn: alice owns EXP-1 … EXP-5, bob EXP-6; EXP-2 concluded with an evaluation pushed by
the pipeline API and one approval; the rotation meets on Thursdays.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import validate as validate_schema
from openapi_spec_validator import validate as validate_document
from werkzeug.datastructures import Headers, ImmutableMultiDict

from bot.services import digest
from bot.services.ports import Context
from bot.services.team import resolve_actor
from tests.e2e.harness import ADMIN, API_READ_TOKEN, API_TOKEN, AppUnderTest

CSV = b"y_true,y_score\n" + b"".join(
    f"{i % 2},{(0.8 if i % 2 else 0.3) + (i % 7) / 100:.2f}\n".encode() for i in range(40)
)


@dataclass
class Answer:
    status: int
    headers: Headers
    data: bytes
    request: ApiRequest

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", "")).split(";")[0].strip().lower()

    @property
    def status_code(self) -> int:
        return self.status


@dataclass
class ApiRequest:
    """An openapi-core Request for what was sent over HTTP."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)


class Client:
    def __init__(self, app: AppUnderTest) -> None:
        self.app = app
        # RFC 9457 problem bodies are JSON: read them as such.
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        self.spec = OpenAPI.from_dict(self.document(), config=config)

    def document(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.app.url + "/api/v1/openapi.json", timeout=10) as r:
            assert r.status == 200
            data: dict[str, Any] = json.loads(r.read())
            return data

    def call(
        self,
        method: str,
        path: str,
        token: str | None = API_READ_TOKEN,
        body: bytes | None = None,
        content_type: str = "",
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content_type:
            headers["Content-Type"] = content_type
        sent = urllib.request.Request(
            self.app.url + path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(sent, timeout=30) as response:
                status, got, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, got, data = error.code, error.headers, error.read()
        url = urlsplit(path)
        request = ApiRequest(
            self.app.url,
            url.path,
            method.lower(),
            body,
            content_type or "application/octet-stream",
            RequestParameters(
                query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
                header=Headers(headers),
                cookie=ImmutableMultiDict(),
            ),
        )
        answer = Answer(status, Headers(list(got.items())), data, request)
        # Whatever the route answered, it is what the document says it answers.
        self.spec.validate_response(request, answer)
        return answer

    def get(self, path: str, token: str | None = API_READ_TOKEN) -> Answer:
        answer = self.call("GET", path, token)
        if answer.status == 200:
            self.spec.validate_request(answer.request)
        return answer


def problem(answer: Answer, status: int, fragment: str) -> None:
    assert answer.status == status, (answer.status, answer.data)
    assert answer.content_type == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and fragment in body["detail"], body
    assert body["error"] == body["detail"]


@pytest.fixture
def api(app: AppUnderTest) -> Client:
    app.setup_team()
    app.command_reply(ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    app.command_reply(ADMIN, "/mlgov", "rules churn wip_main=3")
    for n in range(1, 6):
        app.command_reply("UALICE", "/exp", f"new churn Idea {n} --hypothesis h{n} --metric auc")
    app.command_reply("UBOB", "/exp", "new churn Bob's idea --hypothesis hb --metric auc")
    app.command_reply("UALICE", "/exp", "start EXP-1")
    app.command_reply("UALICE", "/exp", "start EXP-2")
    app.command_reply("UALICE", "/exp", "link EXP-2 https://nb.example.com/2 notebook")
    app.command_reply("UALICE", "/exp", "conclude EXP-2 success tenure helps")
    client = Client(app)
    pushed = client.call(
        "POST", "/api/v1/experiments/EXP-2/evaluations", API_TOKEN, CSV, "text/csv"
    )
    assert pushed.status == 201, pushed.data
    app.command_reply("UBOB", "/review", "approve EXP-2 looks right")
    app.command_reply("UMIA", "/rotation", "config churn weekday=thu time=10:00 pattern=science")
    return client


def test_the_document_is_valid_openapi_3_1(api: Client) -> None:
    document = api.document()
    validate_document(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/v1/experiments",
        "/api/v1/experiments/{key}",
        "/api/v1/experiments/{key}/evaluations",
        "/api/v1/projects/{project}/digest",
        "/api/v1/projects/{project}/rotation",
        "/api/v1/openapi.json",
    }


def test_experiments_page_by_page_with_next_links(api: Client) -> None:
    seen: list[str] = []
    path: str | None = "/api/v1/experiments?project=churn&limit=2"
    while path is not None:
        page = api.get(path).json()
        assert page["total"] == 6 and page["limit"] == 2
        seen += [e["key"] for e in page["items"]]
        path = page["next"]
    assert seen == ["EXP-6", "EXP-5", "EXP-4", "EXP-3", "EXP-2", "EXP-1"]
    last = api.get("/api/v1/experiments?limit=2&cursor=3").json()
    assert [e["key"] for e in last["items"]] == ["EXP-2", "EXP-1"]
    assert last["next_cursor"] is None and last["next"] is None


def test_filters(api: Client) -> None:
    def keys(query: str) -> list[str]:
        return [e["key"] for e in api.get(f"/api/v1/experiments?{query}").json()["items"]]

    assert keys("owner=UBOB") == ["EXP-6"]
    assert keys("status=running") == ["EXP-1"]
    assert keys("status=running,in_review&project=churn") == ["EXP-2", "EXP-1"]
    assert keys("status=proposed&owner=UALICE") == ["EXP-5", "EXP-4", "EXP-3"]
    assert api.get("/api/v1/experiments?owner=UNOBODY").json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "next_cursor": None,
        "next": None,
    }


def test_one_experiment_with_links_reviews_decisions_evaluations_and_history(
    api: Client,
) -> None:
    record = api.get("/api/v1/experiments/EXP-2").json()
    assert (record["key"], record["status"], record["outcome"]) == ("EXP-2", "in_review", "success")
    assert record["links"][0]["url"] == "https://nb.example.com/2"
    [review] = record["reviews"]
    assert review["kind"] == "results" and review["open"]
    [decision] = record["decisions"]
    assert decision["reviewer"] == "UBOB" and decision["approve"]
    assert decision["review"] == review["id"] and decision["text"] == "looks right"
    [evaluation] = record["evaluations"]
    assert evaluation["source"] == "api" and evaluation["rows"] == 40
    assert evaluation["summary"]["metrics"]["auc"] == pytest.approx(1.0)
    actions = [h["action"] for h in record["history"]]
    assert actions[:2] == ["created", "start"] and "evaluation" in actions
    assert api.get("/api/v1/experiments/exp-2").json()["key"] == "EXP-2"


def test_the_digest_as_data_is_the_digests_own_figures(api: Client) -> None:
    app = api.app
    now = datetime.now(UTC)
    year, week, _ = now.isocalendar()
    answer = api.get(f"/api/v1/projects/churn/digest?week={year}-W{week:02d}").json()
    with app.runtime.db.read() as uow:
        ctx = Context(resolve_actor(uow, "T1", ADMIN, {ADMIN}), now, app.runtime.dispatcher.notices)
        [own] = digest.preview(uow, ctx, "churn")
    figures = own.figures
    assert answer["week"]["iso"] == f"{year}-W{week:02d}" and answer["so_far"] is not None
    assert answer["board"] == figures.board
    assert answer["movements"] == figures.movements
    assert answer["movements"]["new"] == 6 and answer["moved"]["started"] == ["EXP-1", "EXP-2"]
    assert answer["review_latency_days"] == pytest.approx(figures.review_latency_days)
    assert [p["experiment"] for p in answer["pending_reviews"]] == ["EXP-2"]
    assert answer["next_rotation"]["date"] == answer["next_rotation"]["starts_at"][:10]
    last = api.get("/api/v1/projects/churn/digest").json()  # the last complete week
    assert last["so_far"] is None and last["movements"]["new"] == 0


def test_the_rotation_ahead(api: Client) -> None:
    plan = api.get("/api/v1/projects/churn/rotation?weeks=3").json()
    assert plan["config"]["weekday"] == "thu" and len(plan["meetings"]) == 3
    assert [m["presenter"] for m in plan["meetings"]] == ["UALICE", "UBOB", "UCAROL"]
    assert all(m["starts_at"].endswith("+00:00") for m in plan["meetings"])
    assert len(api.get("/api/v1/projects/churn/rotation").json()["meetings"]) == 12


def test_a_skipped_meeting_shows_as_cancelled_with_its_reason(api: Client) -> None:
    """QA: a skipped week came back as a meeting with no presenter, nobody skipped, and no
    word of the skip, in the rotation and in the digest's next meeting."""
    first = api.get("/api/v1/projects/churn/rotation?weeks=1").json()["meetings"][0]
    assert (first["cancelled"], first["reason"]) == (False, None)
    line = f"skip {first['date']} team offsite --project churn"
    assert "Skipped the churn meeting" in api.app.command_reply("UMIA", "/rotation", line)["text"]
    meetings = api.get("/api/v1/projects/churn/rotation?weeks=2").json()["meetings"]
    assert meetings[0] | {"starts_at": None} == {
        "date": first["date"],
        "starts_at": None,
        "topic": "science",
        "stands_in_for": None,
        "presenter": None,
        "skipped": [],
        "swapped_from": None,
        "cancelled": True,
        "reason": "team offsite",
    }
    assert (meetings[1]["presenter"], meetings[1]["cancelled"]) == ("UALICE", False)
    upcoming = api.get("/api/v1/projects/churn/digest").json()["next_rotation"]
    assert (upcoming["date"], upcoming["cancelled"], upcoming["reason"]) == (
        first["date"],
        True,
        "team offsite",
    )


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/api/v1/experiments?limit=0", "limit must be a whole number from 1 to 200"),
        ("/api/v1/experiments?limit=ten", "limit must be a whole number"),
        ("/api/v1/experiments?status=done", "status 'done' is not one of"),
        ("/api/v1/experiments?owner=alice", "owner must be a Slack user id"),
        ("/api/v1/experiments?project=Churn!", "project must be a project slug"),
        ("/api/v1/experiments?stauts=running", "Unknown parameter 'stauts'"),
        ("/api/v1/experiments?cursor=-3", "cursor must be a whole number"),
        ("/api/v1/experiments?limit=2&limit=3", "limit is given 2 times"),
        ("/api/v1/experiments?owner=", "owner is empty"),
        ("/api/v1/experiments/EXP-2?verbose=1", "Unknown parameter 'verbose'"),
        ("/api/v1/projects/churn/digest?week=2026-48", "ISO week like 2026-W48"),
        ("/api/v1/projects/churn/digest?week=2026-W60", "ISO week like 2026-W48"),
        ("/api/v1/projects/churn/digest?week=2999-W01", "has not started yet"),
        ("/api/v1/projects/churn/rotation?weeks=99", "weeks must be a whole number from 1"),
    ],
)
def test_bad_parameters_are_400_with_a_clear_problem(api: Client, path: str, fragment: str) -> None:
    problem(api.get(path), 400, fragment)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/api/v1/experiments/EXP-404", "No experiment EXP-404"),
        ("/api/v1/experiments/PROJ-1", "not an experiment key"),
        ("/api/v1/experiments?project=nope", "No project 'nope'"),
        ("/api/v1/projects/nope/digest", "No project 'nope'"),
        ("/api/v1/projects/nope/rotation", "No project 'nope'"),
        ("/api/v1/experiments?team=T9", "No workspace T9"),
    ],
)
def test_unknown_things_are_404(api: Client, path: str, fragment: str) -> None:
    problem(api.get(path), 404, fragment)


def test_an_unknown_route_or_method_is_a_problem_too(api: Client) -> None:
    # Not in the document, so sent without the client's check against it.
    for method, path, status, fragment in (
        ("GET", "/api/v1/nothing", 404, "No route /api/v1/nothing"),
        ("DELETE", "/api/v1/experiments/EXP-1", 405, "DELETE is not allowed"),
    ):
        sent = urllib.request.Request(
            api.app.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"}, method=method
        )
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(sent, timeout=10)
        assert answered.value.code == status
        assert answered.value.headers["Content-Type"] == "application/problem+json"
        assert fragment in json.loads(answered.value.read())["detail"]


def test_tokens(api: Client) -> None:
    evaluations = api.app.count("evaluations")
    refused = api.call(
        "POST", "/api/v1/experiments/EXP-1/evaluations", API_READ_TOKEN, CSV, "text/csv"
    )
    problem(refused, 403, "This token may only read")
    assert api.app.count("evaluations") == evaluations
    nobody = api.get("/api/v1/experiments", token=None)
    problem(nobody, 401, "Authorization: Bearer")
    assert nobody.headers["WWW-Authenticate"] == 'Bearer realm="mlgov"'
    problem(api.get("/api/v1/experiments", token="guess"), 401, "Authorization: Bearer")
    assert api.get("/api/v1/experiments", token=API_TOKEN).status == 200  # the write token reads
    assert api.get("/api/v1/experiments/EXP-1", token=API_READ_TOKEN).status == 200


def test_several_workspaces_need_the_team_parameter(api: Client) -> None:
    app = api.app
    app.command_reply(ADMIN, "/mlgov", "project add fraud <#CFRAUD|fraud>", team="T2")
    app.command_reply(ADMIN, "/mlgov", "member add <@UZED> scientist fraud", team="T2")
    app.command_reply("UZED", "/exp", "new fraud Graph features --hypothesis g", team="T2")
    problem(api.get("/api/v1/experiments"), 400, "serves several workspaces")
    there = api.get("/api/v1/experiments?team=T2").json()
    assert [(e["key"], e["project"]) for e in there["items"]] == [("EXP-1", "fraud")]
    assert api.get("/api/v1/experiments?team=T1").json()["total"] == 6
    assert api.get("/api/v1/experiments/EXP-1?team=T2").json()["title"] == "Graph features"
    problem(api.get("/api/v1/projects/churn/rotation?team=T2"), 404, "No project 'churn'")


def test_a_method_a_path_does_not_list_is_405_as_the_document_says(api: Client) -> None:
    """For every path of the document, each method it does not list answers 405: a problem
    body of the document's Problem schema, with Allow naming exactly the listed methods
    (and HEAD, OPTIONS); the document's own 405 response says so."""
    document = api.document()
    said = document["components"]["responses"]["MethodNotAllowed"]
    assert said["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "Allow" in said["headers"]
    schema = {**document["components"]["schemas"]["Problem"], "components": document["components"]}
    for template, item in document["paths"].items():
        path = template.replace("{key}", "EXP-1").replace("{project}", "churn")
        listed = {m.upper() for m in item if m in {"get", "post", "put", "patch", "delete"}}
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - listed):
            sent = urllib.request.Request(
                api.app.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"}, method=method
            )
            with pytest.raises(urllib.error.HTTPError) as answered:
                urllib.request.urlopen(sent, timeout=10)
            where = f"{method} {path}"
            assert answered.value.code == 405, where
            assert answered.value.headers["Content-Type"] == "application/problem+json", where
            allow = {m.strip() for m in answered.value.headers.get("Allow", "").split(",")}
            assert allow - {"HEAD", "OPTIONS"} == listed, where
            body = json.loads(answered.value.read())
            validate_schema(body, schema)
            assert body["status"] == 405 and f"{method} is not allowed" in body["detail"], where
