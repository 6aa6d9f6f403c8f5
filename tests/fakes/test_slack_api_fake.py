"""Tests of the fake Slack Web API, driven by the real slack_sdk clients."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={"U1": {"is_admin": True}}) as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token="xoxb-test")


def test_post_message_is_recorded_with_increasing_ts(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    second = client.chat_postMessage(channel="C2", text="again")
    assert float(first["ts"]) < float(second["ts"])
    # Form-encoded posts with JSON-string blocks are decoded too.
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": '[{"type": "divider"}]'})

    call = fake.calls("chat.postMessage")[0]
    assert call.params == {"channel": "C1", "text": "hi", "blocks": blocks}
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.status == 200
    assert [m["ts"] for m in fake.messages("C1")][0] == first["ts"]
    assert fake.messages("C1")[1]["blocks"] == [{"type": "divider"}]
    assert [m["channel"] for m in fake.messages()] == ["C1", "C2", "C1"]


def test_canned_answers(fake: FakeSlack, client: WebClient) -> None:
    assert client.auth_test()["user_id"] == "UBOT"
    assert client.users_info(user="U1")["user"]["is_admin"] is True
    assert client.users_info(user="U2")["user"]["name"] == "u2"
    assert client.conversations_open(users="U2")["channel"]["id"] == "DU2"
    view = client.views_open(trigger_id="t", view={"type": "modal", "blocks": []})["view"]
    assert view["id"].startswith("V") and view["type"] == "modal"
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="", text="x")
    assert exc.value.response["error"] == "channel_not_found"
    assert client.api_call("reactions.add", params={"name": "eyes"})["ok"] is True
    assert fake.calls("reactions.add")[0].params == {"name": "eyes"}


def test_fail_next_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=2)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="hi")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "2"
    assert exc.value.response["error"] == "ratelimited"
    client.chat_postMessage(channel="C1", text="hi")  # only the next call failed
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]
    assert len(fake.messages()) == 1


def test_error_next_and_reset(fake: FakeSlack, client: WebClient) -> None:
    fake.error_next("conversations.join", "is_archived", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.conversations_join(channel="C1")
        assert exc.value.response.status_code == 200
        assert exc.value.response["error"] == "is_archived"
    assert client.conversations_join(channel="C1")["channel"]["id"] == "C1"
    fake.error_next("conversations.join", "is_archived")
    fake.reset()
    assert fake.calls() == []
    assert client.conversations_join(channel="C1")["ok"] is True


def test_delay_next_provokes_client_timeout(fake: FakeSlack) -> None:
    fake.delay_next("auth.test", 0.5)
    slow = WebClient(base_url=fake.api_url, token="xoxb-test", timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        slow.auth_test()
    fake.wait_for("auth.test")


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    response = WebhookClient(fake.response_url("abc")).send(text="done", replace_original=True)
    assert response.status_code == 200
    (call,) = fake.wait_for("response_url")
    assert call.params == {"text": "done", "replace_original": True, "_key": "abc"}


def test_wait_for_times_out_with_listing(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="hello")
    with pytest.raises(AssertionError, match=r"(?s)'chat.update'.*chat.postMessage \[200\]"):
        fake.wait_for("chat.update", timeout=0.1)
    with pytest.raises(AssertionError, match="got 1"):
        fake.wait_for("chat.postMessage", count=2, timeout=0.1)
    assert fake.wait_for("chat.postMessage", predicate=lambda c: c.params["text"] == "hello")


def test_files_upload_v2_end_to_end(fake: FakeSlack, client: WebClient) -> None:
    result = client.files_upload_v2(channel="C1", content=b"\x89PNG...", filename="x.png")
    file_id = result["file"]["id"]
    assert fake.uploaded(file_id) == b"\x89PNG..."
    assert [c.method for c in fake.calls()] == [
        "files.getUploadURLExternal",
        "file.upload",
        "files.completeUploadExternal",
    ]
    complete = fake.calls("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C1"
    assert complete.params["files"] == [{"id": file_id, "title": "x.png"}]
    # files.info exposes the upload at a private URL that needs a bearer token.
    url = client.files_info(file=file_id)["file"]["url_private"]
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Authorization": "Bearer xoxb-test"})
    ) as resp:
        assert resp.read() == b"\x89PNG..."
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url)
    assert exc.value.code == 403
    exc.value.close()


def test_host_file(fake: FakeSlack) -> None:
    url = fake.host_file("/files-pri/T1-F9/report.csv", b"a,b\n")
    assert url == f"{fake.base_url}/files-pri/T1-F9/report.csv"
    request = urllib.request.Request(url, headers={"Authorization": "Bearer xoxb-test"})
    with urllib.request.urlopen(request) as resp:
        assert resp.read() == b"a,b\n"
