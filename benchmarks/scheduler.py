"""Scheduler overhead: no-op phases through our Runner and store, against dask.

The graph: `layers` layers of `width` phases (full 100 x 100 = 10,000, quick
20 x 50 = 1,000); each phase past the first layer depends on phases `i` and
`(i + 1) % width` of the layer before. Every phase does nothing, so what is
timed is the scheduling and bookkeeping around the phases.

- ours: `Runner` over phases of kind "noop" (`max_parallel` 4, the default),
  its events handed one by one to a `DuckDBStore` on a file in a temp dir,
  as the server and kernel runs do. Timed from building the runner (which
  validates the workflow) and storing the new execution, through the run,
  until `flush()` returns: every event committed. Opening the store file is
  not timed. Then the stored execution is checked: completed, every phase
  completed, every event there.
- ours, in-memory store: the same with `DuckDBStore(":memory:")`.
- dask threaded: `dask.threaded.get` with 2 worker threads on the same graph
  as a dict of `(noop, *dependencies)` tasks, asking for every key.
- distributed: a `LocalCluster` in this process (`processes=False`), one
  worker with 2 threads, scheduler and worker on 127.0.0.1 over TCP, running
  the same graph through `client.get`. Starting the cluster is not timed.
  The in-process transport ("inproc") was measured ~10% faster, but it finds
  the machine's outward address by a UDP connect to a public host, so it is
  not used here.

Task keys are "noop-<layer>-<index>" (phase ids too): one key prefix for all,
as dask collections name their tasks. distributed keeps its statistics per
key prefix, and with a prefix per task it becomes quadratic (~60 s here).

Each line gives the median of `rounds` (full 3, quick 1) in seconds; the
ratio is ours / peer, lower is better (below 1: ours is faster). The peers
keep nothing: no events, no state that survives a restart.

    .venv/bin/python benchmarks/scheduler.py            # 10,000 phases, 3 rounds
    .venv/bin/python benchmarks/scheduler.py --quick    # 1,000 phases, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dask
import dask.threaded
import distributed
import duckdb

from dagstudio_jupyter.runner import Runner
from dagstudio_jupyter.store import DuckDBStore
from dagstudio_jupyter.workflow import Workflow

# _report sits beside this script, which is run as a file, not a module.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

FULL = {"layers": 100, "width": 100, "rounds": 3}
QUICK = {"layers": 20, "width": 50, "rounds": 1}
THREADS = 2
MAX_PARALLEL = 4


def layered_graph(layers: int, width: int) -> dict[str, list[str]]:
    """Phase id -> its dependencies, in an order where dependencies come first."""
    graph: dict[str, list[str]] = {}
    for layer in range(layers):
        for index in range(width):
            after = []
            if layer:
                parents = (index, (index + 1) % width)
                # dict.fromkeys: a width of 1 names the same parent twice.
                after = [f"noop-{layer - 1}-{i}" for i in dict.fromkeys(parents)]
            graph[f"noop-{layer}-{index}"] = after
    return graph


def noop(*_: Any) -> None:
    """The task of every peer: take the dependencies' results, do nothing."""


def time_ours(graph: dict[str, list[str]], store_path: str, max_parallel: int) -> float:
    """Seconds from building the runner until every event is committed."""
    workflow = Workflow("scheduler-bench")
    for phase_id, after in graph.items():
        workflow.add(phase_id, kind="noop", after=after)
    store = DuckDBStore(store_path)
    loop = asyncio.new_event_loop()
    try:
        gc.collect()
        start = time.perf_counter()
        runner = Runner(
            workflow,
            emit=lambda event: store.append_events([event]),
            max_parallel=max_parallel,
        )
        store.create_execution(runner.state.to_dict())
        created = time.perf_counter()
        loop.run_until_complete(runner.run())
        ran = time.perf_counter()
        store.flush()
        end = time.perf_counter()
        check_stored(store, runner.execution_id, len(graph))
    finally:
        loop.close()
        store.close()
    print(
        f"ours ({store_path}): runner + create_execution {created - start:.3f} s,"
        f" run {ran - created:.3f} s, flush after the run {end - ran:.3f} s",
        file=sys.stderr,
    )
    return end - start


def check_stored(store: DuckDBStore, execution_id: str, phases: int) -> None:
    """Raise unless the store holds a completed run of every phase."""
    doc = store.get_execution(execution_id)
    # One opening and one closing event, and queued/running/completed a phase.
    expected_events = 3 * phases + 2
    done = sum(phase["status"] == "completed" for phase in doc["phases"])
    if doc["status"] != "completed" or done != phases:
        raise RuntimeError(
            f"execution {doc['status']}, {done} of {phases} phases completed"
        )
    events = len(store.events_since(execution_id))
    if doc["last_seq"] != expected_events or events != expected_events:
        raise RuntimeError(
            f"{events} events stored (last_seq {doc['last_seq']}),"
            f" expected {expected_events}"
        )


def dask_graph(graph: dict[str, list[str]]) -> dict[str, tuple[Any, ...]]:
    """The same graph as dask tasks; dependencies are named by their keys."""
    return {key: (noop, *after) for key, after in graph.items()}


def time_dask_threaded(graph: dict[str, list[str]]) -> float:
    """Seconds for `dask.threaded.get` to compute every key."""
    dsk, keys = dask_graph(graph), list(graph)
    gc.collect()
    start = time.perf_counter()
    results = dask.threaded.get(dsk, keys, num_workers=THREADS)
    elapsed = time.perf_counter() - start
    if len(results) != len(keys):
        raise RuntimeError(f"dask threaded returned {len(results)} of {len(keys)}")
    return elapsed


def time_distributed(
    graph: dict[str, list[str]], rounds: int, workdir: str
) -> list[float]:
    """Seconds for `client.get` on an in-process LocalCluster, one per round."""
    dsk, keys = dask_graph(graph), list(graph)
    times = []
    # The scheduler takes its scratch folder from this setting, not from
    # local_directory (which only the worker gets).
    with (
        dask.config.set({"temporary-directory": workdir}),
        distributed.LocalCluster(
            processes=False,
            n_workers=1,
            threads_per_worker=THREADS,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=workdir,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for _ in range(rounds):
            gc.collect()
            start = time.perf_counter()
            results = client.get(dsk, keys)
            times.append(time.perf_counter() - start)
            if len(results) != len(keys):
                raise RuntimeError(
                    f"distributed returned {len(results)} of {len(keys)}"
                )
            print(f"distributed: {times[-1]:.3f} s", file=sys.stderr)
    return times


def main(argv: list[str] | None = None) -> int:
    """Run every case and print one line a peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 phases, 1 round")
    parser.add_argument("--layers", type=int, help="layers of the graph")
    parser.add_argument("--width", type=int, help="phases a layer")
    parser.add_argument("--rounds", type=int, help="rounds; the median is reported")
    parser.add_argument(
        "--max-parallel", type=int, default=MAX_PARALLEL, help="the runner's limit"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    layers = sizes["layers"] if args.layers is None else args.layers
    width = sizes["width"] if args.width is None else args.width
    rounds = sizes["rounds"] if args.rounds is None else args.rounds
    if min(layers, width, rounds, args.max_parallel) < 1:
        parser.error("--layers, --width, --rounds and --max-parallel must be >= 1")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    graph = layered_graph(layers, width)
    count = len(graph)
    print(
        f"# scheduler overhead: {count:,} no-op phases ({layers} layers of"
        f" {width}), median of {rounds} round(s); ours max_parallel"
        f" {args.max_parallel}, peers {THREADS} threads; dask {version('dask')},"
        f" distributed {version('distributed')}, duckdb {duckdb.__version__}",
        flush=True,
    )
    ours: list[float] = []
    in_memory: list[float] = []
    threaded: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dagstudio-bench-") as workdir:
        for number in range(rounds):
            path = str(Path(workdir) / f"store-{number}.duckdb")
            ours.append(time_ours(graph, path, args.max_parallel))
            in_memory.append(time_ours(graph, ":memory:", args.max_parallel))
            threaded.append(time_dask_threaded(graph))
            print(f"dask threaded: {threaded[-1]:.3f} s", file=sys.stderr)
        # Last, so the cluster's background threads never run beside ours.
        cluster_times = time_distributed(graph, rounds, workdir)
    case = f"{count:,} no-op phases"
    ours_s = statistics.median(ours)
    threaded_s = statistics.median(threaded)
    peer = f"dask threaded ({THREADS} threads)"
    report(f"{case}, DuckDB file store", ours_s, peer, threaded_s, "s")
    report(
        f"{case}, DuckDB file store",
        ours_s,
        f"distributed LocalCluster (1 worker, {THREADS} threads)",
        statistics.median(cluster_times),
        "s",
    )
    report(
        f"{case}, in-memory DuckDB store",
        statistics.median(in_memory),
        peer,
        threaded_s,
        "s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
