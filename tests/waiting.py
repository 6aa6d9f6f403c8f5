"""Waiting for work that runs after an ack: poll a condition with a deadline, never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll ``condition`` (work the workers do after the ack) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the workers"
        time.sleep(0.02)
