"""Recovery: from server start until every interrupted execution runs again.

Ours: a real `jupyter server` with DAG Studio on a DuckDB store file
starts N executions of one long python phase each (it awaits
`asyncio.sleep(3600)` on the server's event loop; a module written into the
server's root). Once all N phases run, the server is killed with SIGKILL
(by PID). A new server is started on the same store, and the clock runs
from its spawn until the last of the N phases is running again with its
attempt raised to 2 (the `running` event the resumed runner emits; the
server's start-up hook resumes every execution the store holds as
running). Progress is watched through the REST list (`last_seq` and phase
counts); the end time is that last event's `at`, read from the store once
the server has stopped (SIGTERM; stopped runners stay resumable).

Peer: the same N executions started fresh on a just-started server (empty
store) through the REST API, POSTed one by one from 4 threads with a
keep-alive HTTP connection each; the clock runs from the server's spawn
until the last phase is running (attempt 1), read the same way.

Why python phases that await on the loop and not `sleep 30` shell phases:
a shell phase is a process, and 1,000 of them started at once on 2 cores
would time process creation (on both sides) more than recovery itself.

One line, in seconds; ratio = ours / peer, so below 1 means resuming is
faster than submitting the same work afresh.

Full: 1,000 executions. Quick (`--quick`): 50. `--rounds N` repeats
both and reports the medians (default 1).

    .venv/bin/python benchmarks/recovery.py
    .venv/bin/python benchmarks/recovery.py --quick
    .venv/bin/python benchmarks/recovery.py --executions 200 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report
from _server import API, BenchServer, start_server

from dagstudio_jupyter.store import DuckDBStore

FORMAT = "dagstudio.workflow/1"
HOLD_MODULE = "dagstudio_bench_hold"
HOLD_SOURCE = '''"""The recovery benchmark's phase: a long wait on the server's loop."""

import asyncio


async def hold(seconds):
    await asyncio.sleep(seconds)
'''
HOLD_SECONDS = 3600
SUBMIT_THREADS = 4
POLL_S = 0.1
PEER_NAME = "fresh REST submit"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def workflow(number: int) -> dict[str, Any]:
    """One execution's document: a single phase that holds for an hour."""
    return {
        "format": FORMAT,
        "id": f"recovery-{number}",
        "phases": [
            {
                "id": "hold",
                "kind": "python",
                "ref": f"{HOLD_MODULE}:hold",
                "params": {"seconds": HOLD_SECONDS},
            }
        ],
    }


def submit_all(server: BenchServer, count: int) -> list[str]:
    """POST `count` executions from a few threads, each with its own connection."""
    local = threading.local()

    def submit(number: int) -> str:
        if not hasattr(local, "conn"):
            local.conn = server.connection()
        body = {"workflow": workflow(number)}
        status, answer = server.api(
            "POST", f"{API}/executions", body, connection=local.conn
        )
        if status != 201:
            raise RuntimeError(f"POST executions answered {status}: {answer}")
        return str(answer["id"])

    with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
        return list(pool.map(submit, range(count)))


def running(server: BenchServer, min_seq: int) -> dict[str, dict[str, Any]] | None:
    """The executions listed as running with their phase running at `min_seq`.

    None while the server does not answer yet.
    """
    found: dict[str, dict[str, Any]] = {}
    cursor = ""
    conn = server.connection(timeout=10)
    try:
        while True:
            path = f"{API}/executions?status=running&limit=500{cursor}"
            status, body = server.api("GET", path, connection=conn)
            if status != 200:
                return None
            for item in body["executions"]:
                if item["last_seq"] >= min_seq and item["progress"]["running"] == 1:
                    found[item["id"]] = item
            if not body["next_cursor"]:
                return found
            cursor = f"&cursor={body['next_cursor']}"
    except OSError:  # not listening yet
        return None
    finally:
        conn.close()


def wait_running(
    server: BenchServer, ids: set[str], min_seq: int, timeout: float
) -> float:
    """Poll until every execution runs; return the wall-clock time it was seen."""
    expected = len(ids)
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log_tail()}")
        found = running(server, min_seq)
        if found is not None:
            seen = len(found.keys() & ids)
            if seen >= expected:
                return time.time()
        time.sleep(POLL_S)
    raise RuntimeError(
        f"{seen} of {expected} executions running after {timeout:.0f} s:\n"
        f"{server.log_tail()}"
    )


def last_phase_start(store_path: Path, ids: list[str], attempt: int) -> float:
    """Wall-clock time of the latest `running` of the phases, from the store."""
    latest = 0.0
    store = DuckDBStore(store_path)
    try:
        for execution_id in ids:
            phase = store.get_execution(execution_id)["phases"][0]
            if phase["status"] != "running" or phase["attempt"] != attempt:
                raise RuntimeError(
                    f"execution {execution_id}: phase {phase}, expected running"
                    f" with attempt {attempt}"
                )
            started = datetime.fromisoformat(phase["started_at"]).timestamp()
            latest = max(latest, started)
    finally:
        store.close()
    return latest


def stopped(server: BenchServer | None) -> None:
    if server is not None:
        server.stop()


def measure_ours(home: Path, root: Path, count: int, timeout: float) -> float:
    """Seconds from the restarted server's spawn until all `count` phases rerun."""
    store_path = home / "ours.duckdb"
    first: BenchServer | None = None
    second: BenchServer | None = None
    try:
        first = start_server(home / "first", root_dir=root, store_path=store_path)
        log(f"ours: starting {count} executions...")
        ids = submit_all(first, count)
        wait_running(first, set(ids), 3, timeout)
        log("ours: all running; SIGKILL the server, start a new one on the store")
        first.kill()
        second = start_server(
            home / "second", root_dir=root, store_path=store_path, wait=False
        )
        # Before the kill each execution had 3 events (execution running,
        # phase queued, phase running); a resumed one has 3 more.
        seen = wait_running(second, set(ids), 6, timeout)
        log(f"ours: all running again, seen {seen - second.spawned_at:.2f} s after")
        second.stop()
        end = last_phase_start(store_path, ids, attempt=2)
        return end - second.spawned_at
    finally:
        stopped(first)
        stopped(second)


def measure_peer(home: Path, root: Path, count: int, timeout: float) -> float:
    """Seconds from a fresh server's spawn until `count` POSTed phases run."""
    store_path = home / "peer.duckdb"
    server: BenchServer | None = None
    try:
        server = start_server(
            home / "peer", root_dir=root, store_path=store_path, wait=False
        )
        server.wait_ready()
        ids = submit_all(server, count)
        seen = wait_running(server, set(ids), 3, timeout)
        log(f"peer: all running, seen {seen - server.spawned_at:.2f} s after")
        server.stop()
        end = last_phase_start(store_path, ids, attempt=1)
        return end - server.spawned_at
    finally:
        stopped(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 executions")
    parser.add_argument(
        "--executions", type=int, help="interrupted executions (default 1,000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of both; medians are reported"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for each step"
    )
    args = parser.parse_args(argv)
    count = args.executions or (50 if args.quick else 1000)
    ours: list[float] = []
    theirs: list[float] = []
    home = Path(tempfile.mkdtemp(prefix="dagstudio-bench-recovery-"))
    try:
        root = home / "root"
        root.mkdir()
        (root / f"{HOLD_MODULE}.py").write_text(HOLD_SOURCE, encoding="utf-8")
        for number in range(args.rounds):
            folder = home / f"round-{number}"
            ours.append(measure_ours(folder, root, count, args.timeout))
            log(f"ours: {ours[-1]:.2f} s")
            theirs.append(measure_peer(folder, root, count, args.timeout))
            log(f"peer: {theirs[-1]:.2f} s")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print(f"# recovery, one python phase per execution{rounds}")
    report(
        f"recovery, {count:,} interrupted executions running again",
        statistics.median(ours),
        PEER_NAME,
        statistics.median(theirs),
        "s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
