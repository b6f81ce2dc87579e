"""Tests of kernel runs: a workflow run on a background thread with a store."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dagstudio_jupyter import DuckDBStore, Workflow


def test_run_stores_events_in_a_named_duckdb_file(tmp_path) -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 2)
    wf.add("b", lambda a: a * 21, after="a")
    path = tmp_path / "runs.duckdb"

    run = wf.run(store=str(path))
    run.store.close()

    with DuckDBStore(path) as store:
        stored = store.get_execution(run.id)
        events = store.events_since(run.id)
    assert run.status == "completed" and run.result("b") == 42
    assert stored["status"] == "completed"
    assert {p["id"]: p["status"] for p in stored["phases"]} == {
        "a": "completed",
        "b": "completed",
    }
    assert [e["seq"] for e in events] == list(range(1, stored["last_seq"] + 1))


def test_run_start_returns_at_once_and_cancel_stops_it() -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(10)

    wf = Workflow("w")
    wf.add("block", blocking)
    wf.add("after", lambda block: 1, after="block")

    run = wf.start()
    assert started.wait(5)
    run.cancel()
    run.wait(10)
    release.set()

    assert run.done and run.status == "cancelled"
    assert run.phases["block"]["status"] == "cancelled"
    assert run.phases["after"]["status"] == "cancelled"
    assert run.execution()["status"] == "cancelled"


def test_run_result_names_a_phase_without_result() -> None:
    wf = Workflow("w")
    wf.add("bad", lambda: 1 / 0)
    wf.add("next", lambda bad: bad, after="bad")

    run = wf.run()

    with pytest.raises(KeyError, match="'next' has no result \\(status skipped\\)"):
        run.result("next")
    assert "phase 'bad' failed" in repr(run)


def test_run_refuses_an_invalid_workflow_before_starting() -> None:
    wf = Workflow("w")
    wf.add("a", after=["missing"])

    with pytest.raises(ValueError, match="unknown phase 'missing'"):
        wf.start()


def test_run_closes_the_store_it_opened_and_keeps_its_history(tmp_path) -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 1)
    path = tmp_path / "runs.duckdb"
    threads_before = threading.active_count()

    runs = [wf.run(store=str(path)) for _ in range(5)]

    with DuckDBStore(path) as store:  # the file is no longer locked
        assert {store.get_execution(r.id)["status"] for r in runs} == {"completed"}
    assert runs[0].execution()["status"] == "completed"
    assert runs[0].events(since=2)[0]["seq"] == 3
    assert threading.active_count() <= threads_before + 1


def test_run_shared_store_stays_open_for_its_owner(tmp_path) -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 1)

    with DuckDBStore(tmp_path / "shared.duckdb") as store:
        first = wf.run(store=store)
        second = wf.run(store=store)

        listed, _ = store.list_executions()
    assert {e["id"] for e in listed} == {first.id, second.id}


def test_run_cancel_right_after_start_stops_the_command_at_once() -> None:
    wf = Workflow("w")
    wf.add("sleep", command="sleep 20")

    for _ in range(15):
        run = wf.start()
        run.cancel()
        run.wait(5)

        assert run.done and run.status == "cancelled"


def test_run_shell_phase_dies_with_a_killed_process(tmp_path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "from dagstudio_jupyter import Workflow\n"
        "wf = Workflow('w')\n"
        f"wf.add('sleep', command='echo $$ > {pid_file}; exec sleep 60')\n"
        "wf.run()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert _alive(child)

        parent.kill()
        parent.wait(10)
        for _ in range(100):
            if not _alive(child):
                break
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    assert not _alive(child)


def _alive(pid: int) -> bool:
    """A running process, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
