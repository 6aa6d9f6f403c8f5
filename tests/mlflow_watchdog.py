"""Run a command (the tests' `mlflow server`) and end it, with all it started, when the
test process that launched us closes our lifeline or dies, however it dies.

    python mlflow_watchdog.py FD COMMAND...

FD is the read end of a pipe whose write end only the test process holds. It reads EOF
when that process closes it (``MlflowServer.stop``) or when the kernel closes it for a
process that died: SIGKILL of pytest or of an xdist worker, a second Ctrl-C that cut the
teardown short. No teardown, atexit handler or signal in the test process is needed.

The command runs in a process group of its own, so the watchdog signals that group (the
server and uvicorn, its child) and not itself: SIGTERM, then SIGKILL for whatever is left
once the server has exited or its grace is over. As a child subreaper (Linux) the
watchdog inherits the processes the server leaves behind and reaps every one before it
exits, so when the watchdog has ended the server's port is free. PR_SET_PDEATHSIG alone
would not do: it reaches the server, never its children.

The watchdog runs in a session of its own (the test process starts it so): a Ctrl-C in
the terminal reaches the test process, never the watchdog. It ends too when the command
ends by itself, with its exit status, so the launcher sees a server that failed to start.
Standard library only: it runs with any Python 3.11+.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time

GRACE_S = 10.0  # for the server to shut down on SIGTERM (it waits for uvicorn: ~3 s)
REAP_S = 20.0  # for SIGKILLed processes to be gone
POLL_S = 0.2
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def main(argv: list[str]) -> int:
    lifeline, command = int(argv[1]), argv[2:]
    os.set_inheritable(lifeline, False)  # only we wait on it, not the server
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # Signalled by hand (its own session: never by the terminal), it stops the server too.
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda signum, _: stopping.append(signum))
    server = subprocess.Popen(command, process_group=0)
    while not stopping and not _exited(server.pid):
        readable, _, _ = select.select([lifeline], [], [], POLL_S)
        if readable:  # EOF: the test process stopped the server or is gone
            break
    server.returncode = _end(server.pid)  # reaped here, not by Popen
    return server.returncode


def _exited(pid: int) -> bool:
    """Has our child ``pid`` exited? It stays unreaped, so its group id stays taken."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _end(server: int) -> int:
    """End the server's process group; reap every process; the server's exit status."""
    _signal_group(server, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while not _exited(server) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    _signal_group(server, signal.SIGKILL)  # whatever outlived the server or its grace
    status = 1
    deadline = time.monotonic() + REAP_S
    while time.monotonic() < deadline:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break  # none left: the server and all it left behind (we inherited them)
        if pid == server:
            status = os.waitstatus_to_exitcode(raw)
        elif pid == 0:
            time.sleep(POLL_S)
    return status if status >= 0 else 128 - status


def _signal_group(leader: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(leader, signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
