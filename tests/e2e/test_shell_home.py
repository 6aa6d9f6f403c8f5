"""`:home` in the shell: the App Home as text, its buttons pressed by number (demo team)."""

from __future__ import annotations

from tests.e2e.test_shell import NEXT, answers, shell


def test_home_shows_what_waits_and_its_buttons_take_the_step(demo_url: str) -> None:
    """bob owns EXP-2 (running) and presents at churn's next science review (Monday
    2026-11-30, per the demo's story); pressing Analyze on his Home moves EXP-2."""
    _, out = shell(demo_url, ":as bob", ":home", "1", ":home")
    said = answers(out)
    home = said["bob> :home"]
    assert "Your mlgov Home" in home
    assert "My experiments (1 open)" in home
    assert "EXP-2 Calibrated logistic regression — 🏃 running · churn · main" in home
    assert "[1] Analyze  [2] Conclude…  [3] Abandon…" in home
    # The demo's EXP-1 and EXP-6 were concluded: conclude asked bob (and carol) to review.
    assert "Reviews waiting on me (2)" in home
    assert "EXP-1 Gradient boosting on tenure features · results review · churn" in home
    assert "churn · Mon 2026-11-30 10:00 (Europe/Berlin) · 🔬 science · @bob — you present" in home
    pressed = said["bob> 1"]
    assert "Status: 🔬 analyzing" in pressed
    assert "[#churn › EXP-2 thread] @bob moved to analysis EXP-2" in pressed
    again = said["bob> :home #2"]
    assert "EXP-2 Calibrated logistic regression — 🔬 analyzing" in again
    assert "[1] Conclude…  [2] Abandon…" in again


def test_a_review_waiting_on_me_is_approved_from_the_home(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Gate me --hypothesis tenure helps --metric auc",
        f"/exp start {NEXT}",
        f"/exp conclude {NEXT} success it helps",
        f"/review request {NEXT} @bob @carol",
        ":as carol",
        ":home",
        "7",
        ":home",
    )
    said = answers(out)
    home = said["carol> :home"]
    assert "Reviews waiting on me (2)" in home  # the demo's EXP-1 (asked by conclude) first
    assert f"{NEXT} Gate me · results review · churn · owner @alice" in home
    assert "Waiting on you for 0 working day(s)" in home
    # carol's own EXP-6 (Abandon…) and EXP-3 (Start, Abandon…) come first, then EXP-1.
    assert "[7] Approve  [8] Request changes…  [9] Can't review" in home
    pressed = said["carol> 7"]
    assert "(pressing [7] Approve)" in pressed
    assert f"Approved {NEXT} (1 of 2 approvals; it is in_review)." in pressed
    after = said["carol> :home #2"]
    assert "Reviews waiting on me (1)" in after and f"{NEXT} Gate me" not in after


def test_home_is_listed_in_help_and_refuses_an_argument(demo_url: str) -> None:
    _, out = shell(demo_url, ":help", ":home bob", ":as nobody", ":home")
    said = answers(out)
    assert ":home" in said["ada> :help"] and "Home tab" in said["ada> :help"]
    assert "takes no argument" in said["ada> :home bob"]
    assert "You are not on any mlgov project yet" in said["nobody> :home"]
