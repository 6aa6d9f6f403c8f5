"""The issue's "Done means" for peer review, in the shell: the gate refuses, then opens."""

from __future__ import annotations

from tests.e2e.test_shell import NEXT, answers, shell


def test_schedule_is_gated_on_two_non_owner_approvals_in_the_shell(demo_url: str) -> None:
    """alice concludes; erin may not schedule until bob and carol approve; a change request
    or a newer conclusion closes the gate again."""
    _, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Gate me --hypothesis tenure helps --metric auc",
        f"/exp start {NEXT}",
        f"/exp conclude {NEXT} success it helps",
        ":as erin",
        f"/exp schedule {NEXT}",
        ":as alice",
        f"/review request {NEXT} @bob @carol",
        f"/review approve {NEXT}",
        ":as bob",
        f"/review approve {NEXT} solid",
        ":as carol",
        f"/review approve {NEXT}",
        ":as erin",
        f"/exp schedule {NEXT} sprint 12",
        f"/exp history {NEXT}",
    )
    said = answers(out)
    refused = said[f"erin> /exp schedule {NEXT}"]
    assert "cannot be scheduled for engineering yet" in refused
    assert "0 of 2 approvals from scientists other than the owner" in refused  # conclude asked
    assert "You cannot review your own experiment" in said[f"alice> /review approve {NEXT}"]
    assert "1 of 2 approvals" in said[f"bob> /review approve {NEXT} solid"]
    assert "2 of 2 approvals" in said[f"carol> /review approve {NEXT}"]
    scheduled = said[f"erin> /exp schedule {NEXT} sprint 12"]
    assert "Status: 📅 scheduled" in scheduled
    assert "@erin scheduled engineering for" in scheduled
    history = said[f"erin> /exp history {NEXT}"]
    assert "review_approved" in history and "schedule approved → scheduled" in history


def test_a_change_request_closes_the_gate_again_in_the_shell(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Gate me --hypothesis tenure helps --metric auc",
        f"/exp start {NEXT}",
        f"/exp conclude {NEXT} success it helps",
        f"/review request {NEXT} @bob @carol",
        ":as bob",
        f"/review approve {NEXT}",
        ":as carol",
        f"/review changes {NEXT} the baseline was scored on other rows",
        ":as erin",
        f"/exp schedule {NEXT}",
    )
    said = answers(out)
    assert (
        "analyzing" in said[f"carol> /review changes {NEXT} the baseline was scored on other rows"]
    )
    refused = said[f"erin> /exp schedule {NEXT}"]
    assert "open change request" in refused and "<@UCAROL>" not in refused


def test_pressing_approve_again_says_it_was_approved_already_and_posts_nothing(
    demo_url: str,
) -> None:
    _, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Twice --hypothesis h --metric auc",
        f"/exp start {NEXT}",
        f"/exp conclude {NEXT} success it helps",
        f"/review request {NEXT} @bob @carol",
        ":as bob",
        f"/review approve {NEXT}",
        "1",  # Approve, on the request as it was edited after bob's approval
        f"/exp show {NEXT}",
    )
    said = answers(out)
    assert "1 of 2 approvals" in said[f"bob> /review approve {NEXT}"]
    again = said["bob> 1"]
    assert f"You already approved {NEXT}: nothing changes (1 of 2 approvals" in again
    assert "Approved" not in again
    assert "thread]" not in again  # nothing posted in the thread, no edit either
    assert out.count(f"@bob approved {NEXT} (") == 1
