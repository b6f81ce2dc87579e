"""Tests of the executors: the process pool, and choosing an executor by name."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from dagstudio_jupyter import DuckDBStore, Workflow
from dagstudio_jupyter.executors import (
    Executor,
    ProcessExecutor,
    ThreadExecutor,
    make_executor,
)
from dagstudio_jupyter.runner import Runner
from dagstudio_jupyter.server.app import DagStudioApp
from dagstudio_jupyter.server.manager import ExecutionManager

# Phase functions live at module level: the process executor sends them by
# reference, and worker processes import this module to find them.


def crunch(n: int) -> tuple[int, int]:
    """CPU-bound work; returns its answer and the pid of the process it ran in."""
    return sum(i * i for i in range(n)), os.getpid()


def combine(left: tuple[int, int], right: tuple[int, int]) -> dict[str, Any]:
    return {"total": left[0] + right[0], "pids": [left[1], right[1], os.getpid()]}


async def double_later(value: int) -> int:
    await asyncio.sleep(0.01)
    return value * 2


def sleep_with_pid(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(60)


def _run(wf: Workflow, executor: Executor) -> Runner:
    runner = Runner(wf, executor=executor, retry_backoff_s=0.01)
    asyncio.run(runner.run())
    return runner


def _alive(pid: int) -> bool:
    """A running process, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def process_executor() -> Any:
    executor = ProcessExecutor(max_workers=2)
    yield executor
    executor.shutdown()


def test_process_executor_runs_phases_in_other_processes_and_passes_results(
    process_executor: ProcessExecutor,
) -> None:
    wf = Workflow("w")
    wf.add("left", crunch, params={"n": 200_000})
    wf.add("right", crunch, params={"n": 100_000})
    wf.add("both", combine, after=["left", "right"])
    wf.add("twice", double_later, after="both", params={"value": 21})

    runner = _run(wf, process_executor)

    both = runner.results["both"]
    assert {p["status"] for p in runner.state.phases.values()} == {"completed"}
    assert both["total"] == sum(i * i for i in range(200_000)) + sum(
        i * i for i in range(100_000)
    )
    assert os.getpid() not in both["pids"]
    assert runner.results["twice"] == 42


def test_process_executor_fails_a_lambda_phase_naming_the_function(
    process_executor: ProcessExecutor,
) -> None:
    wf = Workflow("w")
    wf.add("inline", lambda: 1)
    wf.add("after", crunch, after="inline", params={"n": 1})

    runner = _run(wf, process_executor)

    inline = runner.state.phases["inline"]
    assert inline["status"] == "failed"
    assert "cannot send function" in inline["error"]
    assert "<lambda>" in inline["error"] and "to a worker process" in inline["error"]
    assert runner.state.phases["after"]["status"] == "skipped"


def test_process_executor_timeout_finishes_the_run_and_shutdown_stops_the_worker(
    tmp_path: Path,
) -> None:
    executor = ProcessExecutor(max_workers=1)
    pid_file = tmp_path / "worker.pid"
    wf = Workflow("w")
    # The first phase starts the worker, so the timeout covers only the sleep.
    wf.add("warm", crunch, params={"n": 1})
    wf.add(
        "slow",
        sleep_with_pid,
        after="warm",
        params={"pid_file": str(pid_file)},
        timeout_s=1,
    )

    runner = _run(wf, executor)
    worker = int(pid_file.read_text())
    stopper = threading.Thread(target=executor.shutdown)
    stopper.start()
    stopper.join(20)
    for _ in range(200):
        if not _alive(worker):
            break
        time.sleep(0.05)

    assert runner.state.status == "failed"
    assert runner.state.phases["slow"]["error"] == "timed out after 1 s"
    assert not stopper.is_alive()
    assert not _alive(worker)


def test_process_executor_refuses_the_fork_start_method() -> None:
    with pytest.raises(ValueError, match="'fork' is unsafe"):
        ProcessExecutor(start_method="fork")


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        (None, "ThreadExecutor"),
        ("thread", "ThreadExecutor"),
        ("process", "ProcessExecutor"),
        ("dask", "DaskExecutor"),
    ],
)
def test_make_executor_builds_each_named_executor(
    name: str | None, class_name: str
) -> None:
    executor = make_executor(name)

    assert type(executor).__name__ == class_name
    executor.shutdown()


def test_make_executor_passes_an_instance_through_and_names_the_choices() -> None:
    executor = ThreadExecutor()

    assert make_executor(executor) is executor
    with pytest.raises(ValueError) as error:
        make_executor("gpu")
    assert "'thread', 'process', 'dask'" in str(error.value)
    assert "'gpu'" in str(error.value)
    executor.shutdown()


@pytest.mark.parametrize("name", ["thread", "process", "dask"])
def test_server_executor_setting_accepts_each_executor(name: str) -> None:
    app = DagStudioApp(executor=name, dask_address="tcp://127.0.0.1:8786")

    assert app.executor == name


def test_server_executor_setting_refuses_an_unknown_name() -> None:
    with pytest.raises(TraitError, match="'thread', 'process', 'dask'"):
        DagStudioApp(executor="gpu")


def test_server_manager_runs_python_refs_in_its_worker_processes(
    tmp_path: Path,
) -> None:
    document = {
        "format": "dagstudio.workflow/1",
        "id": "pids",
        "phases": [
            {"id": "first", "kind": "python", "ref": "os:getpid"},
            {"id": "second", "kind": "python", "ref": "os:getpid", "after": ["first"]},
        ],
    }

    async def scenario() -> list[dict[str, Any]]:
        store = DuckDBStore(tmp_path / "runs.duckdb")
        manager = ExecutionManager(store, root_dir=tmp_path, executor="process")
        manager.start()
        execution = await manager.submit(document, "ann")
        await manager.runners[execution["id"]][1]
        store.flush()
        events = await manager.events(execution["id"], "ann")
        await manager.shutdown()
        return events

    events = asyncio.run(scenario())

    pids = {
        e["phase_id"]: e["result"]
        for e in events
        if e["phase_id"] and e["status"] == "completed"
    }
    assert set(pids) == {"first", "second"}
    assert os.getpid() not in pids.values()
