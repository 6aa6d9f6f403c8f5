#!/usr/bin/env python3
"""Set-up and the two everyday commands, needing nothing but Python 3.11+.

    python3 dev.py run [mlgov arguments]   # creates .venv from requirements.lock, runs mlgov
    python3 dev.py test [pytest arguments] # the same set-up, then ruff, mypy and pytest

`test` also creates .venv-mlflow (once) from tests/requirements-mlflow.txt: the real MLflow
server and client that the tests marked `mlflow` drive. It is not part of mlgov's own
environment; where it cannot be installed those tests skip (fail with MLGOV_REQUIRE_MLFLOW=1).

With no Slack credentials in the environment (or .env), `run` opens the local shell on
SQLite with a demo team. The first call takes a minute or two to install; later calls
reinstall only when requirements.lock or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".mlgov-installed"
INPUTS = (ROOT / "requirements.lock", ROOT / "pyproject.toml")
MLFLOW_VENV = ROOT / ".venv-mlflow"
MLFLOW_REQUIREMENTS = ROOT / "tests" / "requirements-mlflow.txt"


def _digest(*inputs: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in inputs or INPUTS)).hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies and mlgov itself, when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under any python3
        sys.exit(f"mlgov needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("dev.py: creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _digest():
        return
    print("dev.py: installing locked dependencies (once) …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(_digest())


def ensure_mlflow_environment() -> None:
    """Create .venv-mlflow for the tests that drive a real MLflow server, when needed."""
    stamp = MLFLOW_VENV / ".mlgov-installed"
    if stamp.exists() and stamp.read_text() == _digest(MLFLOW_REQUIREMENTS):
        return
    print("dev.py: installing the MLflow test environment (once) …", flush=True)
    python = MLFLOW_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True).create(MLFLOW_VENV)
        subprocess.run(
            [str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q",
             "-r", str(MLFLOW_REQUIREMENTS)],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        if os.environ.get("MLGOV_REQUIRE_MLFLOW") == "1":
            sys.exit(f"dev.py: the MLflow test environment did not install ({exc})")
        print(f"dev.py: the MLflow test environment did not install ({exc});"
              " the MLflow tests will skip", flush=True)
        return
    stamp.write_text(_digest(MLFLOW_REQUIREMENTS))


def run(args: list[str]) -> int:
    return subprocess.call([str(BIN / "mlgov"), *args])


def test(args: list[str]) -> int:
    steps = [
        [str(BIN / "ruff"), "check", "bot", "storage", "tests", "benchmarks", "dev.py"],
        [str(BIN / "mypy")],
        # Two pytest-xdist workers (CI's machine has two cores); a later `-n 0` in ``args``
        # runs the tests in one process (e.g. for --pdb). loadgroup: the tests of one
        # xdist_group (those on the MLflow server) share a worker, and its one server.
        [str(BIN / "python"), "-m", "pytest", "-n", "2", "--dist", "loadgroup", *args],
    ]
    for step in steps:
        print("dev.py:", " ".join(Path(step[0]).name if i == 0 else a
                                  for i, a in enumerate(step)), flush=True)
        code = subprocess.call(step, cwd=ROOT)
        if code != 0:
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "run":
        ensure_environment()
        return run(args)
    # The two environments install side by side: on a fresh machine that saves a minute.
    with ThreadPoolExecutor(max_workers=1) as pool:
        mlflow = pool.submit(ensure_mlflow_environment)
        ensure_environment()
        mlflow.result()  # re-raises its SystemExit when it had to stop
    return test(args)


if __name__ == "__main__":
    sys.exit(main())
