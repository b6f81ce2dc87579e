"""Tests of the DuckDB execution store."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from dagstudio_jupyter._state import ExecutionState
from dagstudio_jupyter.errors import ConflictError, NotFoundError, StoreError
from dagstudio_jupyter.store import DuckDBStore

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
PHASES = ("extract", "train", "report")


def make_execution(
    execution_id: str,
    *,
    owner: str = "alice",
    created_at: str = "2024-05-01T12:00:00.000000Z",
    phases: tuple[str, ...] = PHASES,
) -> dict[str, Any]:
    workflow = {
        "format": "dagstudio.workflow/1",
        "id": f"wf-{execution_id}",
        "name": f"flow {execution_id}",
        "phases": [{"id": p, "kind": "noop", "after": []} for p in phases],
    }
    return ExecutionState(
        execution_id, workflow, owner=owner, created_at=created_at
    ).to_dict()


def event(
    execution_id: str,
    seq: int,
    status: str,
    phase_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": f"2024-05-01T12:00:{seq % 60:02d}.{seq:06d}Z",
        "execution_id": execution_id,
        "phase_id": phase_id,
        "status": status,
        "attempt": 1 if phase_id else 0,
        "error": "boom" if status == "failed" else None,
        **extra,
    }


def full_run(execution_id: str, *, fail: str | None = None) -> list[dict[str, Any]]:
    """Events of a whole run: every phase queued, running, then finished."""
    steps: list[tuple[str | None, str]] = [(None, "running")]
    for phase_id in PHASES:
        end = "failed" if phase_id == fail else "completed"
        steps += [(phase_id, "queued"), (phase_id, "running"), (phase_id, end)]
    steps.append((None, "failed" if fail else "completed"))
    events = [event(execution_id, n, s, p) for n, (p, s) in enumerate(steps, 1)]
    events[0]["reason"] = "recovered"
    events[-2]["output"] = {"tail": ["line 1", "line 2"]}
    return events


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "store.duckdb", max_delay_s=0.005) as opened:
        yield opened


def spawn(code: str) -> subprocess.Popen[str]:
    """Start a Python process that runs `code` and prints when it is ready."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_store_round_trips_execution_and_events_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    events = full_run("run-1", fail="train")

    with DuckDBStore(path) as first:
        first.create_execution(make_execution("run-1"))
        first.append_events(events)
        first.flush()
        before = first.get_execution("run-1")
    with DuckDBStore(path) as second:
        after = second.get_execution("run-1")
        stored = second.events_since("run-1")

    assert after == before
    assert stored == events
    assert stored[0]["reason"] == "recovered"
    assert after["status"] == "failed"
    assert after["created_at"] == "2024-05-01T12:00:00.000000Z"
    assert [p["id"] for p in after["phases"]] == list(PHASES)
    assert after["phases"][1]["error"] == "boom"


def test_events_since_returns_events_after_seq_in_order(store: DuckDBStore) -> None:
    store.create_execution(make_execution("run-1"))
    events = full_run("run-1")
    store.append_events(events)
    store.flush()

    later = store.events_since("run-1", since=4)
    page = store.events_since("run-1", since=4, limit=3)

    assert [e["seq"] for e in later] == list(range(5, len(events) + 1))
    assert later == events[4:]
    assert page == events[4:7]


def test_events_since_raises_not_found_when_execution_unknown(
    store: DuckDBStore,
) -> None:
    with pytest.raises(NotFoundError, match="execution 'nope' not found"):
        store.events_since("nope")


def test_get_execution_raises_not_found_when_execution_unknown(
    store: DuckDBStore,
) -> None:
    with pytest.raises(NotFoundError, match="execution 'nope' not found"):
        store.get_execution("nope")


def test_create_execution_raises_conflict_when_id_exists(store: DuckDBStore) -> None:
    store.create_execution(make_execution("run-1"))

    with pytest.raises(ConflictError, match="run-1"):
        store.create_execution(make_execution("run-1"))


def test_store_replay_of_stored_events_gives_stored_document(
    store: DuckDBStore,
) -> None:
    created = make_execution("run-1")
    store.create_execution(created)
    store.append_events(full_run("run-1", fail="report"))
    store.flush()

    replayed = ExecutionState.from_dict(created)
    for stored in store.events_since("run-1"):
        replayed.apply(stored)

    assert replayed.to_dict() == store.get_execution("run-1")


def test_append_events_drops_duplicates_and_gapped_events(
    store: DuckDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_execution(make_execution("run-1"))
    store.create_execution(make_execution("run-2"))
    events = full_run("run-1")
    store.append_events(events[:3])
    store.flush()

    with caplog.at_level(logging.ERROR, logger="dagstudio_jupyter.store"):
        store.append_events(
            [
                *events[1:3],
                event("run-1", 9, "running", "train"),
                events[3],
                event("run-2", 1, "running"),
            ]
        )
        store.flush()

    assert [e["seq"] for e in store.events_since("run-1")] == [1, 2, 3, 4]
    assert store.get_execution("run-1")["last_seq"] == 4
    assert store.get_execution("run-2")["status"] == "running"
    assert "'run-1'" in caplog.text
    assert "[9]" in caplog.text


def test_append_events_rejects_malformed_event_when_field_has_wrong_type(
    store: DuckDBStore,
) -> None:
    store.create_execution(make_execution("run-1"))
    good = event("run-1", 1, "running")

    with pytest.raises(ValueError, match="'seq'"):
        store.append_events([good, {**event("run-1", 2, "failed"), "seq": "2"}])
    store.flush()

    assert store.events_since("run-1") == []


def test_append_events_commits_threaded_burst_without_gaps(
    store: DuckDBStore,
) -> None:
    ids = [f"run-{n}" for n in range(4)]
    count = 2_500
    for execution_id in ids:
        store.create_execution(make_execution(execution_id))

    def produce(execution_id: str) -> None:
        events = [
            event(execution_id, seq, "running", PHASES[seq % 3], note=seq)
            for seq in range(1, count + 1)
        ]
        start = 0
        while start < len(events):
            size = 1 + start % 37
            store.append_events(events[start : start + size])
            start += size

    threads = [threading.Thread(target=produce, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.flush()

    for execution_id in ids:
        stored = store.events_since(execution_id)
        assert [e["seq"] for e in stored] == list(range(1, count + 1))
        assert stored[-1]["note"] == count
        assert store.get_execution(execution_id)["last_seq"] == count


def test_subscribe_delivers_batches_only_after_commit(store: DuckDBStore) -> None:
    store.create_execution(make_execution("run-1"))
    seen: list[tuple[int, int]] = []

    def check(batch: list[dict[str, Any]]) -> None:
        # Runs on the writer thread: the batch must already be readable.
        stored = store.get_execution("run-1")["last_seq"]
        seen.append((max(e["seq"] for e in batch), stored))

    unsubscribe = store.subscribe(check)
    for item in full_run("run-1"):
        store.append_events([item])
    store.flush()
    unsubscribe()

    assert seen
    assert all(batch_max <= stored for batch_max, stored in seen)
    assert seen[-1][0] == len(full_run("run-1"))


def test_subscribe_keeps_other_subscribers_when_one_raises(
    store: DuckDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_execution(make_execution("run-1"))
    received: list[int] = []
    late: list[int] = []

    def broken(batch: list[dict[str, Any]]) -> None:
        raise RuntimeError("subscriber bug")

    store.subscribe(broken)
    store.subscribe(lambda batch: received.extend(e["seq"] for e in batch))
    unsubscribe = store.subscribe(lambda batch: late.extend(e["seq"] for e in batch))
    events = full_run("run-1")
    with caplog.at_level(logging.ERROR, logger="dagstudio_jupyter.store"):
        store.append_events(events[:5])
        store.flush()
        unsubscribe()
        store.append_events(events[5:])
        store.flush()

    assert received == list(range(1, len(events) + 1))
    assert late == [1, 2, 3, 4, 5]
    assert "subscriber bug" in caplog.text


def test_list_executions_filters_by_status_and_owner(store: DuckDBStore) -> None:
    for n, owner in enumerate(["alice", "bob", "alice"]):
        store.create_execution(make_execution(f"run-{n}", owner=owner))
    store.append_events(full_run("run-0"))
    store.append_events([event("run-1", 1, "running")])
    store.flush()

    completed, _ = store.list_executions(status="completed")
    by_alice, _ = store.list_executions(owner="alice")
    running_bob, _ = store.list_executions(status="running", owner="bob")

    assert [item["id"] for item in completed] == ["run-0"]
    assert [item["id"] for item in by_alice] == ["run-2", "run-0"]
    assert [item["id"] for item in running_bob] == ["run-1"]
    summary = completed[0]
    assert summary["name"] == "flow run-0"
    assert summary["last_seq"] == len(PHASES) * 3 + 2
    assert summary["progress"]["total"] == 3
    assert summary["progress"]["completed"] == 3
    assert summary["progress"]["running"] == 0
    assert "workflow" not in summary


def test_list_executions_pages_newest_first_without_gaps_or_repeats(
    store: DuckDBStore,
) -> None:
    # Several executions share a creation time, so the id must break ties.
    for n in range(23):
        created_at = f"2024-05-0{1 + n // 5}T08:00:00.000000Z"
        store.create_execution(make_execution(f"run-{n:02d}", created_at=created_at))
    expected = sorted((f"2024-05-0{1 + n // 5}", f"run-{n:02d}") for n in range(23))[
        ::-1
    ]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        items, cursor = store.list_executions(limit=5, cursor=cursor)
        pages.append([item["id"] for item in items])
        if cursor is None:
            break

    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == [i for _, i in expected]


def named_execution(execution_id: str, name: str, **options: Any) -> dict[str, Any]:
    """An execution whose workflow has `name`."""
    execution = make_execution(execution_id, **options)
    execution["workflow"]["name"] = name
    return execution


def test_list_executions_q_matches_name_id_or_owner_ignoring_case(
    store: DuckDBStore,
) -> None:
    rows = [
        ("e1", "Nightly ETL", "alice"),
        ("TRAIN-7", "model", "alice"),
        ("e3", "report", "Etl-Bot"),
        ("e4", "other", "bob"),
    ]
    for n, (execution_id, name, owner) in enumerate(rows):
        created_at = f"2024-05-01T12:00:0{n}.000000Z"
        store.create_execution(
            named_execution(execution_id, name, owner=owner, created_at=created_at)
        )

    def ids(q: str) -> list[str]:
        return [item["id"] for item in store.list_executions(q=q)[0]]

    assert ids("etl") == ["e3", "e1"]
    assert ids("train") == ["TRAIN-7"]
    assert ids("HTLY e") == ["e1"]
    assert ids("nothing like it") == []
    assert ids("") == ["e4", "e3", "TRAIN-7", "e1"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%", ["w1"]),
        ("50%", ["w1"]),
        ("_", ["w3"]),
        ("a_b", ["w3"]),
        ("\\", ["w5"]),
        ("k\\s", ["w5"]),
    ],
)
def test_list_executions_q_matches_wildcards_literally(
    store: DuckDBStore, q: str, expected: list[str]
) -> None:
    names = ["50% off", "500 off", "a_b", "axb", "back\\slash", "backslash"]
    for n, name in enumerate(names, 1):
        created_at = f"2024-05-01T12:00:0{n}.000000Z"
        store.create_execution(named_execution(f"w{n}", name, created_at=created_at))

    items, _ = store.list_executions(q=q)

    assert [item["id"] for item in items] == expected


def test_list_executions_q_pages_with_cursor_and_combines_with_status(
    store: DuckDBStore,
) -> None:
    for n in range(12):
        name = f"{'match' if n % 2 else 'other'} {n}"
        created_at = f"2024-05-01T12:00:{n:02d}.000000Z"
        store.create_execution(
            named_execution(f"r{n:02d}", name, created_at=created_at)
        )
    for n in (1, 5, 6, 9):
        store.append_events(full_run(f"r{n:02d}"))
    store.flush()

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        items, cursor = store.list_executions(limit=2, cursor=cursor, q="MATCH")
        pages.append([item["id"] for item in items])
        if cursor is None:
            break
    completed, _ = store.list_executions(status="completed", q="match")

    assert pages == [["r11", "r09"], ["r07", "r05"], ["r03", "r01"]]
    assert [item["id"] for item in completed] == ["r09", "r05", "r01"]


def test_list_executions_raises_value_error_when_cursor_invalid(
    store: DuckDBStore,
) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        store.list_executions(cursor="not-a-cursor")


def test_delete_execution_raises_conflict_when_running(store: DuckDBStore) -> None:
    store.create_execution(make_execution("run-1"))
    store.append_events([event("run-1", 1, "running")])
    store.flush()

    with pytest.raises(ConflictError, match="run-1"):
        store.delete_execution("run-1")

    assert store.get_execution("run-1")["status"] == "running"


def test_delete_execution_raises_not_found_when_unknown(store: DuckDBStore) -> None:
    with pytest.raises(NotFoundError, match="execution 'nope' not found"):
        store.delete_execution("nope")


def test_delete_execution_removes_events_and_phases(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with DuckDBStore(path) as store:
        store.create_execution(make_execution("run-1"))
        store.create_execution(make_execution("run-2"))
        store.append_events(full_run("run-1") + full_run("run-2"))
        store.flush()

        store.delete_execution("run-1")

        with pytest.raises(NotFoundError):
            store.get_execution("run-1")
        items, _ = store.list_executions()
        assert [item["id"] for item in items] == ["run-2"]
        assert len(store.events_since("run-2")) == len(full_run("run-2"))
    with duckdb.connect(str(path)) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE execution_id = 'run-1'),"
            " (SELECT count(*) FROM phases WHERE execution_id = 'run-1')"
        ).fetchone()
    assert left == (0, 0)


def test_executions_with_status_returns_matching_ids(store: DuckDBStore) -> None:
    for n in range(3):
        store.create_execution(make_execution(f"run-{n}"))
    store.append_events([event("run-0", 1, "running"), event("run-2", 1, "running")])
    store.flush()

    running = store.executions_with_status("running", "interrupted")

    assert running == ["run-0", "run-2"]
    assert store.executions_with_status() == []


def test_store_open_raises_store_error_when_file_held_by_other_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.duckdb"
    holder = spawn(
        "import sys\n"
        "from dagstudio_jupyter.store import DuckDBStore\n"
        f"store = DuckDBStore({str(path)!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "store.close()\n"
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"

        with pytest.raises(StoreError) as raised:
            DuckDBStore(path)
    finally:
        holder.communicate("", timeout=10)

    message = str(raised.value)
    assert str(path) in message
    assert "locked by another process" in message
    assert f"PID {holder.pid}" in message


def test_store_open_refuses_file_with_newer_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    DuckDBStore(path).close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(StoreError) as raised:
        DuckDBStore(path)

    assert str(path) in str(raised.value)
    assert "99" in str(raised.value)


def test_close_is_idempotent_and_commits_queued_events(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    store = DuckDBStore(path, max_delay_s=10.0)
    store.create_execution(make_execution("run-1"))
    store.append_events(full_run("run-1"))

    store.close()
    store.close()

    with pytest.raises(StoreError, match="closed"):
        store.append_events([event("run-1", 99, "running")])
    with DuckDBStore(path) as reopened:
        assert reopened.get_execution("run-1")["status"] == "completed"


def test_store_keeps_flushed_events_when_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "killed.duckdb"
    events = full_run("run-1")[:6]
    writer = spawn(
        "import time\n"
        "from dagstudio_jupyter.store import DuckDBStore\n"
        f"store = DuckDBStore({str(path)!r})\n"
        f"store.create_execution({make_execution('run-1')!r})\n"
        f"store.append_events({events!r})\n"
        "store.flush()\n"
        "print('flushed', flush=True)\n"
        "time.sleep(60)\n"
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "flushed"

    writer.kill()
    writer.communicate(timeout=10)

    with DuckDBStore(path) as reopened:
        stored = reopened.events_since("run-1")
        assert stored == events
        assert reopened.get_execution("run-1")["last_seq"] == 6


def test_store_close_waits_for_reads_under_way(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    for index in range(50):
        store.create_execution(
            ExecutionState(f"e{index}", {"phases": [{"id": "a"}]}).to_dict()
        )
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                store.list_executions(limit=50)
                store.events_since("e1")
            except StoreError:
                return  # closed: the one answer a reader may get
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)

    store.close()
    stop.set()
    for reader in readers:
        reader.join(10)

    assert errors == []
    with DuckDBStore(tmp_path / "s.duckdb") as again:
        assert len(again.list_executions(limit=100)[0]) == 50
