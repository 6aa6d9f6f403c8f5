"""A real `mlflow server` for the tests marked `mlflow`, and MLflow's own client to drive it.

The server and the client run from .venv-mlflow (dev.py test creates it from
tests/requirements-mlflow.txt; MLGOV_MLFLOW_PYTHON names another interpreter). One server
runs per pytest-xdist worker (session scope), on a free port, with a SQLite backend and
local artifacts served through it, and allowed to deliver webhooks to 127.0.0.1. A worker
runs one test at a time, so each test starts from a server with no experiments and no
registered models (``MlflowServer.reset``).

Tests drive MLflow as a training script does: ``run_python`` runs a script with the MLflow
venv's python and MLFLOW_TRACKING_URI set; ``log_run`` is the usual training script.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_PYTHON = Path(
    os.environ.get("MLGOV_MLFLOW_PYTHON") or ROOT / ".venv-mlflow" / "bin" / "python"
)
WATCHDOG = Path(__file__).with_name("mlflow_watchdog.py")
START_TIMEOUT_S = 180.0  # a first start migrates the SQLite store: ~20 s idle, more under load
SCRIPT_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0  # the watchdog's grace for SIGTERM, then SIGKILL and reaping


def mlflow_problem() -> str | None:
    """Why the MLflow test environment cannot be used (None when it can)."""
    if not MLFLOW_PYTHON.exists():
        return f"no MLflow test environment at {MLFLOW_PYTHON}; `python3 dev.py test` creates it"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MlflowServer:
    """One `mlflow server` we started; ``url`` is its tracking URI.

    The server runs under a watchdog (tests/mlflow_watchdog.py) that ends it, with every
    process it started, when we close its lifeline (``stop``) or when the process that
    launched it dies without a teardown (SIGKILL, a second Ctrl-C).
    """

    url: str
    folder: Path
    webhook_key: str
    port: int
    experiment: str = "training"  # each test's own name (``reset``): deleted names stay taken
    process: subprocess.Popen[bytes] | None = None  # the watchdog
    lifeline: int | None = None  # the pipe's write end: the watchdog reads EOF once closed

    @classmethod
    def start(cls, folder: Path) -> MlflowServer:
        """Start a server in ``folder`` and return once /health answers."""
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        key = base64.urlsafe_b64encode(os.urandom(32)).decode()  # a Fernet key
        server = cls(f"http://127.0.0.1:{port}", folder, key, port)
        server.launch()
        return server

    def launch(self) -> None:
        """Start the server process (again, after ``stop``: same port, same store)."""
        env = {
            **os.environ,
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": self.webhook_key,
            "MLFLOW_WEBHOOK_CACHE_TTL": "1",
            # Its job runner (seven huey processes) serves GenAI jobs no test needs.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        command = [
            str(MLFLOW_PYTHON), "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"),
            "--serve-artifacts",
        ]
        # Not inheritable (os.pipe's default): no other child holds the write end open.
        watched, self.lifeline = os.pipe()
        try:
            with (self.folder / "server.log").open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-I", str(WATCHDOG), str(watched), *command],
                    cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, pass_fds=(watched,),
                    start_new_session=True,  # no Ctrl-C from the terminal
                )
        finally:
            os.close(watched)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.healthy():
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mlflow server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        """End the server and every process it started; returns once all are gone.

        Closing the lifeline tells the watchdog: SIGTERM to the server's process group,
        SIGKILL to what is left after the server's grace.
        """
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def rest(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Any:
        """A raw call to /api/2.0/mlflow/<endpoint> (for set-up and for reading back)."""
        data = json.dumps(body).encode() if body is not None else None
        if method == "GET" and body:
            endpoint += "?" + urllib.parse.urlencode(body)
            data = None
        request = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/{endpoint}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def reset(self) -> None:
        """Delete every experiment (but the default), registered model and webhook; a new
        experiment name for the test's runs (MLflow keeps a deleted experiment's name)."""
        self.experiment = f"training-{uuid.uuid4().hex[:8]}"
        experiments = self.rest("POST", "experiments/search", {"max_results": 1000})
        for experiment in experiments.get("experiments", []):
            if (experiment_id := experiment["experiment_id"]) != "0":
                self.rest("POST", "experiments/delete", {"experiment_id": experiment_id})
        models = self.rest("GET", "registered-models/search", {"max_results": 1000})
        for model in models.get("registered_models", []):
            self.rest("DELETE", "registered-models/delete", {"name": model["name"]})
        for webhook in self.rest("GET", "webhooks").get("webhooks", []):
            self.rest("DELETE", f"webhooks/{webhook['webhook_id']}")

    def run_python(self, code: str, *args: str, **env: str) -> str:
        """Run ``code`` with MLflow's venv (MLFLOW_TRACKING_URI set); its stdout, stripped."""
        return _python(code, *args, env={"MLFLOW_TRACKING_URI": self.url, **env})

    def log_run(
        self,
        experiment: str = "",
        *,
        tags: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        artifacts: dict[str, bytes] | None = None,
        status: str = "FINISHED",
    ) -> str:
        """A training script's run: tags, metrics, artifacts (path -> bytes), end status.

        Returns the run id. ``status`` RUNNING leaves the run open (as a job still
        training); FAILED or KILLED ends it so, as a crashed script does.
        """
        (run_id,) = self.log_runs(
            1, experiment, tags=tags, metrics=metrics, artifacts=artifacts, status=status
        )
        return run_id

    def log_runs(
        self,
        count: int,
        experiment: str = "",
        *,
        tags: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        artifacts: dict[str, bytes] | None = None,
        status: str = "FINISHED",
    ) -> list[str]:
        """``count`` runs like ``log_run``'s, from one script (one process); their ids."""
        if status == "RUNNING" and count != 1:
            raise ValueError("one script leaves one run open")
        spec = {
            "experiment": experiment or self.experiment,
            "count": count,
            "tags": tags or {},
            "metrics": metrics or {},
            "artifacts": {path: data.decode("latin-1") for path, data in (artifacts or {}).items()},
            "status": status,
        }
        # MLflow prints "View run …" on stdout too.
        out = self.run_python(LOG_RUN, json.dumps(spec))
        return [line[7:] for line in out.splitlines() if line.startswith("RUN_ID=")]

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run left RUNNING, as the script does when training is over."""
        self.run_python(END_RUN, run_id, status)


# The training script: the lines a team adds are the tag and the artifact under mlgov/.
LOG_RUN = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import mlflow

    spec = json.loads(sys.argv[1])
    mlflow.set_experiment(spec["experiment"])
    for _ in range(spec["count"]):
        run = mlflow.start_run()
        mlflow.set_tags(spec["tags"])
        for key, value in spec["metrics"].items():
            mlflow.log_metric(key, value)
        with tempfile.TemporaryDirectory() as folder:
            for path, text in spec["artifacts"].items():
                local = os.path.join(folder, os.path.basename(path))
                with open(local, "wb") as f:
                    f.write(text.encode("latin-1"))
                mlflow.log_artifact(local, artifact_path=os.path.dirname(path) or None)
        print(f"RUN_ID={run.info.run_id}", flush=True)
        if spec["status"] == "RUNNING":
            os._exit(0)  # the training goes on elsewhere: leave the run open (no atexit end)
        mlflow.end_run(spec["status"])
    """
)
END_RUN = textwrap.dedent(
    """
    import sys
    from mlflow import MlflowClient

    MlflowClient().set_terminated(sys.argv[1], sys.argv[2])
    """
)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", code, *args],
        env={**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", **(env or {})},
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise RuntimeError(f"MLflow script failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout.strip()


