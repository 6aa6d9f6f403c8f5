"""MLflow sync speed: one `mlflow-sync` over 1,000 linked runs, against a real MLflow server.

SPEC §12; the figure asked for in issue 12. Run from the repository root, after
`python3 dev.py test` made .venv-mlflow (the real `mlflow server`)::

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.mlflow_sync

It starts `mlflow server` (SQLite store, local artifacts) as the tests do, and logs
``--runs`` runs tagged ``mlgov.experiment`` = EXP-1 … EXP-10 with MLflow's own client, half
finished and half still running, none with a predictions file (an import is the upload
path's cost: benchmarks/evaluation.py). mlgov runs on a fresh SQLite file (or
``--database-url``) with project churn and those ten experiments. Timed, each the median
of ``--repeats`` (the first sync once):

- **first sync**: every run is new: linked, its status kept, the finished ones' artifacts
  listed (no predictions: nothing to import), a Start offered once per experiment;
- **steady sync**: nothing changed since (the every-minute case): the search, a read of
  the 1,000 rows, the running runs compared with what was kept;
- **reference**: the bare MLflow calls any sync has to make, with the same client:
  `experiments/search` and the paged `runs/search` of the tagged runs.

The steady sync against the reference is mlgov's own cost per minute. Figures never
change the exit status.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.ack_latency import machine
from tests.mlflow_server import MlflowServer, mlflow_problem

EXPERIMENTS = 10
# One script creates the runs with MLflow's client (create_run: the tags in one call).
CREATE_RUNS = """
import json, sys
from mlflow import MlflowClient

spec = json.loads(sys.argv[1])
client = MlflowClient()
experiment_id = client.create_experiment(spec["experiment"])
for n in range(spec["runs"]):
    tags = {"mlgov.experiment": f"EXP-{n % spec['experiments'] + 1}"}
    run = client.create_run(experiment_id, tags=tags, run_name=f"nightly-{n}")
    if n % 2 == 0:
        client.set_terminated(run.info.run_id, "FINISHED")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="linked runs (1000)")
    parser.add_argument("--repeats", type=int, default=5, help="steady syncs timed (5)")
    parser.add_argument("--database-url", default=None, help="mlgov's database (SQLite)")
    args = parser.parse_args()
    problem = mlflow_problem()
    if problem:
        print(f"mlflow_sync: {problem}")
        return 0
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        server = MlflowServer.start(Path(folder) / "mlflow")
        try:
            figures = measure(server, Path(folder), args)
        finally:
            server.stop()
    print(json.dumps(figures))
    return 0


def measure(server: MlflowServer, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    from bot.config import Settings
    from bot.jobs import JOBS
    from bot.mlflow.client import MlflowClient
    from bot.runtime import Runtime
    from bot.services.mlflow_sync import TAG_FILTER
    from bot.slack.dispatch import Origin

    started = time.perf_counter()
    spec = {"experiment": "benchmark", "runs": args.runs, "experiments": EXPERIMENTS}
    server.run_python(CREATE_RUNS, json.dumps(spec))
    print(f"logged {args.runs} runs with MLflow's client in {time.perf_counter() - started:.1f} s")
    url = args.database_url or f"sqlite:///{folder / 'mlgov.db'}"
    settings = Settings(
        database_url=url, admins=frozenset({"UADMIN"}), mlflow_tracking_uri=server.url
    )
    runtime = Runtime.create(settings)
    try:
        admin = Origin("T1", "UADMIN")
        lines = ["project add churn <#CCHURN|churn>", "member add <@UALICE> scientist churn"]
        for line in lines:
            assert not runtime.dispatcher.command(admin, "/mlgov", line).failed
        for n in range(EXPERIMENTS):
            reply = runtime.dispatcher.command(Origin("T1", "UALICE"), "/exp", f"new churn M{n}")
            assert not reply.failed, reply.text
        job, env = JOBS["mlflow-sync"], runtime.job_env()

        def sync() -> tuple[float, list[str]]:
            begin = time.perf_counter()
            done = job.run(env, datetime.now(UTC))
            return time.perf_counter() - begin, done

        first, done = sync()
        offered = sum("Start offered" in line for line in done)
        ended = sum("no-predictions" in line for line in done)
        print(f"first sync: {len(done)} changes ({offered} Start offers, {ended} runs ended)")
        client = MlflowClient(server.url)

        def reference() -> float:
            begin = time.perf_counter()
            ids = client.search_experiment_ids()
            found = sum(1 for _ in client.iter_runs(ids, TAG_FILTER))
            assert found == args.runs, found
            return time.perf_counter() - begin

        steady, bare = [], []
        for _ in range(args.repeats):  # taking turns, so that other work slows both alike
            took, done = sync()
            assert done == [], done
            steady.append(took)
            bare.append(reference())
        with runtime.db.read() as uow:
            followed = len(uow.mlflow_runs.pending())
    finally:
        runtime.close()
    figures = {
        "runs": args.runs,
        "first_sync_s": round(first, 3),
        "steady_sync_s": round(statistics.median(steady), 3),
        "reference_s": round(statistics.median(bare), 3),
    }
    print(
        f"\n{args.runs} linked runs ({followed} still running):\n"
        f"  first sync (all new)       {first:8.2f} s\n"
        f"  steady sync (no change)    {figures['steady_sync_s']:8.2f} s   median of"
        f" {args.repeats}\n"
        f"  reference: bare search     {figures['reference_s']:8.2f} s   "
        f"({figures['steady_sync_s'] / max(figures['reference_s'], 1e-9):.1f}x)\n"
        "  budget: one sync a minute  60.00 s"
    )
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
