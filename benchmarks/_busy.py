"""CPU load for the ack-latency benchmark: a 1M-row evaluation, computed over and over."""

from __future__ import annotations

import threading
import time
from types import TracebackType


class Evaluations:
    """Rounds of a 1M-row, two-model evaluation on a background thread of this process.

    A round is what an evaluation of a candidate against a baseline costs: the ROC AUC of
    each (``sklearn.metrics.roc_auc_score``) and the mid-ranks of each score column (the
    O(n log n) sorts of a fast DeLong test), about three ``roc_auc_score`` calls in all.
    numpy and scikit-learn release the GIL in parts of this, not all of it: the request
    threads of the same process compete with it as they would in production.
    """

    def __init__(self, rows: int = 1_000_000, seed: int = 0) -> None:
        self.rows = rows
        self.seed = seed
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-evaluation", daemon=True)
        self._lock = threading.Lock()
        self._counting = False
        self._rounds = 0
        self._seconds = 0.0
        self._cpu = 0.0
        self.error: BaseException | None = None

    def __enter__(self) -> Evaluations:
        """Start, and return once the first (uncounted) round is done: the load is steady."""
        self._thread.start()
        self._first.wait(120)
        with self._lock:
            self._counting = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._counting = False
        self._stop.set()
        self._thread.join(30)

    def summary(self) -> str:
        """What ran during the measurement: rounds, seconds each, and cores used."""
        with self._lock:
            rounds, seconds, cpu = self._rounds, self._seconds, self._cpu
        if self.error is not None:
            return f"the evaluation thread FAILED: {self.error!r}"
        if not rounds:
            return "no evaluation round completed during the run"
        return (
            f"{rounds} round(s) of a {self.rows:,}-row evaluation completed during the run,"
            f" {seconds / rounds:.2f} s each, {cpu / seconds:.2f} of a core used"
        )

    def _loop(self) -> None:
        try:
            import numpy as np
            from scipy.stats import rankdata
            from sklearn.metrics import roc_auc_score

            rng = np.random.default_rng(self.seed)
            labels = rng.integers(0, 2, self.rows)
            scores = [rng.normal(size=self.rows) + labels * lift for lift in (0.5, 0.6)]

            def one_round() -> None:
                for column in scores:
                    roc_auc_score(labels, column)
                    rankdata(column)  # mid-ranks: the sort a DeLong test needs per model

            while not self._stop.is_set():
                wall, cpu = time.perf_counter(), time.thread_time()
                one_round()
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                with self._lock:
                    if self._counting:
                        self._rounds += 1
                        self._seconds += wall
                        self._cpu += cpu
                self._first.set()
        except Exception as exc:  # reported in the table, instead of a silently idle load
            self.error = exc
            self._first.set()
