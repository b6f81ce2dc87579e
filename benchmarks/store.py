"""Store write throughput: phase events committed to a file, against a commit each.

The events are those a real run emits: a `Runner` drives a workflow of no-op
phases (layers of 100, each phase waiting on two of the layer before) with
`keep_results=True`, as the server runs it, and its events are collected
before anything is timed. Each case writes the first N of them, one call per
event, to a fresh file in a temp dir (DuckDB with its default syncing).

- ours: `DuckDBStore.append_events([event])` for each event, then `flush()`;
  timed from the first append until `flush()` returns, when every event is
  committed. The store's writer thread commits groups of up to 500 events,
  one transaction a group that also updates the phase and execution rows.
  Creating the execution and opening the file are not timed.
- DuckDB, commit per event: a plain `duckdb` connection in autocommit mode
  inserting each event into an `events` table of the same columns and
  primary key; DuckDB syncs its log to disk at every commit.
- sqlite3 WAL, commit per event: the same table in sqlite3 with
  `journal_mode=WAL` and `synchronous=NORMAL`, one insert and one commit an
  event. In this mode a commit is not synced to disk (only checkpoints are),
  so the last commits can be lost on power failure, not on a crash.

The peers store the event rows only; ours also keeps every phase's status and
the execution's row up to date. Each peer turns an event's extra keys into
JSON as ours does. The figures are rates per event, so the DuckDB peer, slow
at one sync a commit, writes fewer events (full: ours and sqlite 20,000,
DuckDB 2,000; quick: 2,000 and 300). Each line gives the median of `rounds`
(full 3, quick 1) in events/s; the ratio is ours / peer, higher is better
(above 1: ours writes faster). Ours is measured with events arriving as fast
as they can be appended; events arriving slower are committed in smaller
groups, each at most 20 ms after its first event was queued.

    .venv/bin/python benchmarks/store.py            # 20,000 / 2,000 events
    .venv/bin/python benchmarks/store.py --quick    # 2,000 / 300 events
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from dagstudio_jupyter.runner import Runner
from dagstudio_jupyter.store import EVENT_KEYS, DuckDBStore
from dagstudio_jupyter.workflow import Workflow

# _report sits beside this script, which is run as a file, not a module.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

FULL = {"events": 20_000, "commit_events": 2_000, "rounds": 3}
QUICK = {"events": 2_000, "commit_events": 300, "rounds": 1}
WIDTH = 100
# The same columns and key as the store's events table; `extra` holds the
# event's other keys as JSON.
_COLUMNS = (
    'execution_id TEXT, seq BIGINT, "at" TEXT, phase_id TEXT, status TEXT,'
    " attempt INTEGER, error TEXT, extra {json}, PRIMARY KEY (execution_id, seq)"
)
DUCKDB_TABLE = f"CREATE TABLE events ({_COLUMNS.format(json='JSON')})"
SQLITE_TABLE = f"CREATE TABLE events ({_COLUMNS.format(json='TEXT')})"
INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def run_events(count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run no-op phases; return the new execution's document and `count` events."""
    # A run of n phases emits 3 n + 2 events (queued, running, completed).
    phases = max(1, -(-(count - 2) // 3))
    workflow = Workflow("store-bench")
    for number in range(phases):
        layer, index = divmod(number, WIDTH)
        after = []
        if layer:
            parents = dict.fromkeys((index, (index + 1) % WIDTH))
            after = [f"noop-{layer - 1}-{i}" for i in parents]
        workflow.add(f"noop-{layer}-{index}", kind="noop", after=after)
    events: list[dict[str, Any]] = []
    runner = Runner(workflow, emit=events.append, keep_results=True)
    execution = runner.state.to_dict()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(runner.run())
    finally:
        loop.close()
    if len(events) < count:
        raise RuntimeError(f"the run emitted {len(events)} events, wanted {count}")
    return execution, events[:count]


def row_of(event: dict[str, Any]) -> tuple[Any, ...]:
    """The row a peer inserts: the event's columns, its other keys as JSON."""
    extra = {key: value for key, value in event.items() if key not in EVENT_KEYS}
    return (
        event["execution_id"],
        event["seq"],
        event["at"],
        event.get("phase_id"),
        event["status"],
        event.get("attempt"),
        event.get("error"),
        json.dumps(extra) if extra else None,
    )


def rate_ours(
    execution: dict[str, Any], events: list[dict[str, Any]], path: str
) -> float:
    """Events/s appended to a `DuckDBStore` and committed."""
    with DuckDBStore(path) as store:
        store.create_execution(execution)
        gc.collect()
        start = time.perf_counter()
        for event in events:
            store.append_events([event])
        store.flush()
        elapsed = time.perf_counter() - start
        stored = store.events_since(execution["id"])
    if len(stored) != len(events):
        raise RuntimeError(f"ours stored {len(stored)} of {len(events)} events")
    return len(events) / elapsed


def rate_duckdb(events: list[dict[str, Any]], path: str) -> float:
    """Events/s inserted into DuckDB, each in its own (auto)commit."""
    conn = duckdb.connect(path)
    try:
        conn.execute(DUCKDB_TABLE)
        gc.collect()
        start = time.perf_counter()
        for event in events:
            conn.execute(INSERT, row_of(event))
        elapsed = time.perf_counter() - start
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    stored = row[0] if row else 0
    if stored != len(events):
        raise RuntimeError(f"DuckDB stored {stored} of {len(events)} events")
    return len(events) / elapsed


def rate_sqlite(events: list[dict[str, Any]], path: str) -> float:
    """Events/s inserted into sqlite3 (WAL, synchronous=NORMAL), a commit each."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(SQLITE_TABLE)
        conn.commit()
        gc.collect()
        start = time.perf_counter()
        for event in events:
            conn.execute(INSERT, row_of(event))
            conn.commit()
        elapsed = time.perf_counter() - start
        (stored,) = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    if stored != len(events):
        raise RuntimeError(f"sqlite3 stored {stored} of {len(events)} events")
    return len(events) / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run every case and print one line a peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 / 300 events, 1 round"
    )
    parser.add_argument("--events", type=int, help="events for ours and sqlite3")
    parser.add_argument(
        "--commit-events", type=int, help="events for the DuckDB commit-per-event peer"
    )
    parser.add_argument("--rounds", type=int, help="rounds; the median is reported")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    count = sizes["events"] if args.events is None else args.events
    commit_count = args.commit_events
    if commit_count is None:
        commit_count = sizes["commit_events"]
    rounds = sizes["rounds"] if args.rounds is None else args.rounds
    if min(count, commit_count, rounds) < 1:
        parser.error("--events, --commit-events and --rounds must be >= 1")

    execution, events = run_events(max(count, commit_count))
    print(
        f"# store write throughput: median of {rounds} round(s); ours and sqlite3"
        f" {count:,} events, DuckDB commit per event {commit_count:,};"
        f" duckdb {duckdb.__version__}, sqlite {sqlite3.sqlite_version}",
        flush=True,
    )
    ours: list[float] = []
    per_commit: list[float] = []
    lite: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dagstudio-bench-") as workdir:
        for number in range(rounds):
            folder = Path(workdir)
            ours.append(
                rate_ours(execution, events[:count], str(folder / f"ours-{number}.db"))
            )
            per_commit.append(
                rate_duckdb(events[:commit_count], str(folder / f"duck-{number}.db"))
            )
            lite.append(rate_sqlite(events[:count], str(folder / f"lite-{number}.db")))
            print(
                f"round {number + 1}: ours {ours[-1]:,.0f}, DuckDB commit per event"
                f" {per_commit[-1]:,.0f}, sqlite3 {lite[-1]:,.0f} events/s",
                file=sys.stderr,
            )
    ours_rate = statistics.median(ours)
    case = f"{count:,} phase events to a file"
    report(
        case,
        ours_rate,
        f"DuckDB commit per event ({commit_count:,} events)",
        statistics.median(per_commit),
        "events/s",
        higher_is_better=True,
    )
    report(
        case,
        ours_rate,
        "sqlite3 WAL commit per event",
        statistics.median(lite),
        "events/s",
        higher_is_better=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
