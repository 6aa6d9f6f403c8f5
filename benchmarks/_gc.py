"""Full garbage collections in the server's process, which stop every thread while they run."""

from __future__ import annotations

import gc
import time
from types import TracebackType
from typing import Any


class FullCollections:
    """Within the block: how long each generation-2 collection of this process took (ms)."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._started = 0.0

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._observe)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        gc.callbacks.remove(self._observe)

    def summary(self) -> str:
        if not self.pauses_ms:
            return "0"
        return f"{len(self.pauses_ms)}, max {max(self.pauses_ms):.0f} ms"

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        # Called with the GIL held, by whichever thread triggered the collection.
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._started) * 1000.0)
