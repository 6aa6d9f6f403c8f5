"""The tests' `mlflow server` (tests/mlflow_server.py) never outlives the process that
started it: not after a clean stop, and not when that process is killed (SIGKILL of pytest
or of an xdist worker, a second Ctrl-C), when no teardown runs at all.

`mlflow server` starts uvicorn, which starts its worker: each test snapshots every process
under the server before it acts, and afterwards checks each of them is gone and the port
refuses connections. Whatever is still alive at the end is killed, so a failing run leaves
nothing behind either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.mlflow_server import MlflowServer
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads processes from /proc")

ROOT = Path(__file__).resolve().parents[2]
GONE_TIMEOUT_S = 60.0  # a SIGTERM grace, then SIGKILL, on a loaded 2-core machine

# A test process that starts a server and then waits to be killed (it never stops it).
LAUNCHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.mlflow_server import MlflowServer

    server = MlflowServer.start(Path(sys.argv[1]))
    print(server.port, flush=True)
    sys.stdin.read()
    """
)

Process = tuple[int, int]  # (pid, start time): a pid alone may be reused


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def processes_under(root: int) -> set[Process]:
    """``root`` and every process below it, now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[Process] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        if (fields := _stat(pid)) is not None:
            found.add((pid, int(fields[19])))
            todo += children.get(pid, [])
    return found


def alive(process: Process) -> bool:
    """Still running: a zombie (dead, not yet reaped by whoever inherited it) is not."""
    pid, started = process
    fields = _stat(pid)
    return fields is not None and int(fields[19]) == started and fields[0] != "Z"


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        try:
            probe.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def gone(processes: set[Process], port: int) -> bool:
    return not any(alive(p) for p in processes) and refuses(port)


def wait_gone(processes: set[Process], port: int) -> None:
    try:
        wait_until(lambda: gone(processes, port), timeout=GONE_TIMEOUT_S)
    except AssertionError:
        running = [describe(p) for p in processes if alive(p)]
        refused = refuses(port)
        raise AssertionError(
            f"{GONE_TIMEOUT_S:.0f} s on, still running: {running}; port {port} refuses: {refused}"
        ) from None


def describe(process: Process) -> str:
    with contextlib.suppress(OSError):
        command = Path(f"/proc/{process[0]}/cmdline").read_bytes().replace(b"\0", b" ")
        return f"{process[0]} {command.decode(errors='replace')[:120]}"
    return str(process[0])


def kill_leftovers(processes: set[Process]) -> None:
    for pid, _ in filter(alive, processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_the_server_ends_when_the_process_that_started_it_is_killed(
    tmp_path: Path, mlflow_environment: Path
) -> None:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    server: set[Process] = set()
    with subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "mlflow")],
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": pythonpath},
    ) as launcher:
        try:
            assert launcher.stdout is not None
            line = launcher.stdout.readline()  # the launcher gives up by itself after a while
            assert line, f"the launcher ended ({launcher.wait()}) without starting a server"
            port = int(line)
            server = {p for p in processes_under(launcher.pid) if p[0] != launcher.pid}
            assert len(server) >= 2 and not refuses(port), server  # at least mlflow, uvicorn

            launcher.kill()  # no teardown, no atexit, no finally: as the OOM killer would
            launcher.wait(timeout=30)

            wait_gone(server, port)
        finally:
            launcher.kill()
            kill_leftovers(server)


def test_a_stopped_server_leaves_nothing_running_and_starts_again_on_its_port(
    mlflow_server: MlflowServer,
) -> None:
    assert mlflow_server.process is not None
    server = processes_under(mlflow_server.process.pid)
    assert len(server) >= 2 and not refuses(mlflow_server.port), server
    try:
        mlflow_server.stop()

        # Once stop returns: the fixture starts the server again on the same port.
        assert gone(server, mlflow_server.port), [describe(p) for p in server if alive(p)]
        mlflow_server.launch()
        assert mlflow_server.healthy()
        assert not any(alive(p) for p in server)  # new processes, not the old ones
    finally:
        kill_leftovers(server)
