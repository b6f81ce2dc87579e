"""Tests of the Dask executor on a real in-process LocalCluster."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import distributed
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin

from dagstudio_jupyter import DagStudioError, Workflow
from dagstudio_jupyter.dask_executor import DaskExecutor, DaskResult
from dagstudio_jupyter.runner import Runner

from .test_dags_api import FORMAT, wait_finished

BLOB_BYTES = 5_000_000
# A phase that blocks runs on a worker thread of this process (processes=False);
# these let a test see it start and let it go at the end.
STARTED = threading.Event()
RELEASE = threading.Event()

# Phase functions live at module level: Dask sends them by reference.


def load(n: int) -> list[int]:
    return list(range(1, n + 1))


def total(load: list[int]) -> int:
    return sum(load)


async def scaled(total: int, factor: int) -> int:
    await asyncio.sleep(0.01)
    return total * factor


def report(total: int, scaled: int) -> dict[str, Any]:
    return {"total": total, "scaled": scaled, "thread": threading.current_thread().name}


def bad(value: int) -> None:
    raise ValueError(f"bad input {value}")


def flaky(attempt: int) -> str:
    if attempt == 1:
        raise ConnectionError(f"lost on attempt {attempt}")
    return f"ok on attempt {attempt}"


def block() -> str:
    STARTED.set()
    RELEASE.wait(30)
    return "released"


def blob(size: int) -> bytes:
    return b"x" * size


def blob_size(blob: bytes) -> int:
    return len(blob)


def make_numbers(n: int) -> list[int]:
    return list(range(n))


def count_items(make_numbers: list[int]) -> dict[str, Any]:
    return {"count": len(make_numbers), "thread": threading.current_thread().name}


class CancelRecorder(SchedulerPlugin):
    """On the scheduler: the keys released because a client cancelled them.

    A future merely dropped by its client is released too, but not with a
    cancel stimulus, so this tells a cancel from a forgotten future.
    """

    name = "dagstudio-test-cancels"

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def transition(
        self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any
    ) -> None:
        if str(kwargs.get("stimulus_id", "")).startswith("cancel-key"):
            self.cancelled.append(str(key))


def scheduler_view(dask_scheduler: Any) -> dict[str, Any]:
    """On the scheduler: its keys and the keys cancelled by a client."""
    recorder = dask_scheduler.plugins[CancelRecorder.name]
    return {
        "keys": [str(key) for key in dask_scheduler.tasks],
        "cancelled": list(recorder.cancelled),
    }


def dependencies_of(dask_scheduler: Any, key: str) -> list[str]:
    return sorted(str(dep.key) for dep in dask_scheduler.tasks[key].dependencies)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """One in-process cluster for the module: a worker with four threads."""
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=4,
        processes=False,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )
    yield cluster
    RELEASE.set()
    cluster.close()


@pytest.fixture(scope="module")
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    """A client of the test itself, to look at the scheduler."""
    client = distributed.Client(dask_cluster, set_as_default=False)
    client.register_plugin(CancelRecorder())
    yield client
    client.close()


@pytest.fixture
def dask_executor(dask_cluster: Any) -> Iterator[DaskExecutor]:
    executor = DaskExecutor(dask_cluster.scheduler_address)
    yield executor
    executor.shutdown()


@pytest.fixture
def blocking() -> Iterator[None]:
    """A fresh start for `block`; whatever still blocks is let go at the end."""
    STARTED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()


def _statuses(phases: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {pid: p["status"] for pid, p in phases.items()}


def _wait_for(condition: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_dask_workflow_completes_on_the_cluster_with_right_values(
    dask_executor: DaskExecutor,
) -> None:
    wf = Workflow("w")
    wf.add("load", load, params={"n": 100})
    wf.add("total", total, after="load")
    wf.add("scaled", scaled, after="total", params={"factor": 3})
    wf.add("report", report, after=["total", "scaled"])

    with wf.run(executor=dask_executor) as run:
        held = run.runner.results["total"]
        value = run.result("report")
        results = run.results

    assert run.status == "completed"
    assert set(_statuses(run.phases).values()) == {"completed"}
    assert isinstance(held, DaskResult)
    assert value["total"] == 5050 and value["scaled"] == 15150
    assert "Dask-Default-Threads" in value["thread"]
    assert results["load"] == list(range(1, 101))


def test_dask_phase_failure_names_the_error_and_skips_downstream(
    dask_executor: DaskExecutor,
) -> None:
    lock = threading.Lock()
    wf = Workflow("w")
    wf.add("bad", bad, params={"value": 7})
    wf.add("after_bad", lambda bad: bad, after="bad")
    wf.add("unsendable", lambda: lock.locked())

    with wf.run(executor=dask_executor) as run:
        phases = run.phases

    assert run.status == "failed"
    assert phases["bad"]["error"] == "ValueError: bad input 7"
    assert phases["after_bad"]["status"] == "skipped"
    assert phases["unsendable"]["status"] == "failed"
    assert "cannot send function" in phases["unsendable"]["error"]
    assert "to the Dask cluster" in phases["unsendable"]["error"]
    assert "lock" in phases["unsendable"]["error"]


def test_dask_phase_retry_succeeds_on_the_second_attempt(
    dask_executor: DaskExecutor,
) -> None:
    wf = Workflow("w")
    wf.add("flaky", flaky, retries=2)

    with wf.run(executor=dask_executor, retry_backoff_s=0.01) as run:
        result = run.result("flaky")
        retry = [e for e in run.events() if e.get("reason") == "retry"]

    assert run.phases["flaky"]["status"] == "completed"
    assert run.phases["flaky"]["attempt"] == 2
    assert result == "ok on attempt 2"
    assert [e["error"] for e in retry] == ["ConnectionError: lost on attempt 1"]


def test_dask_cancel_ends_the_run_and_cancels_the_future(
    dask_executor: DaskExecutor, dask_client: Any, blocking: None
) -> None:
    wf = Workflow("w")
    wf.add("block", block)
    wf.add("after_block", lambda block: block, after="block")

    with wf.start(executor=dask_executor) as run:
        assert STARTED.wait(10)
        run.cancel()
        run.wait(10)

    assert run.status == "cancelled"
    assert _statuses(run.phases) == {"block": "cancelled", "after_block": "cancelled"}
    assert _wait_for(
        lambda: any(
            key.startswith("block-")
            for key in dask_client.run_on_scheduler(scheduler_view)["cancelled"]
        )
    )
    assert _wait_for(
        lambda: (
            not any(
                key.startswith("block-")
                for key in dask_client.run_on_scheduler(scheduler_view)["keys"]
            )
        )
    )


def test_dask_timeout_fails_the_phase_and_cancels_the_future(
    dask_executor: DaskExecutor, dask_client: Any, blocking: None
) -> None:
    wf = Workflow("w")
    wf.add("block", block, timeout_s=0.5)
    wf.add("after_block", lambda block: block, after="block")
    before = dask_client.run_on_scheduler(scheduler_view)["cancelled"]

    with wf.run(executor=dask_executor) as run:
        phases = run.phases

    assert STARTED.is_set()
    assert run.status == "failed"
    assert phases["block"]["error"] == "timed out after 0.5 s"
    assert phases["after_block"]["status"] == "skipped"
    assert _wait_for(
        lambda: any(
            key.startswith("block-") and key not in before
            for key in dask_client.run_on_scheduler(scheduler_view)["cancelled"]
        )
    )


def test_dask_large_result_goes_from_worker_to_worker_not_through_the_runner(
    dask_executor: DaskExecutor,
) -> None:
    wf = Workflow("w")
    wf.add("blob", blob, params={"size": BLOB_BYTES})
    wf.add("blob_size", blob_size, after="blob")
    events: list[dict[str, Any]] = []

    async def scenario() -> tuple[Runner, list[str], int]:
        async with dask_executor:
            runner = Runner(wf, executor=dask_executor, emit=events.append)
            runner.keep_results = True
            await runner.run()
            client = await dask_executor.client()
            held_size = runner.results["blob_size"]
            dependencies = await client.run_on_scheduler(
                dependencies_of, key=held_size.key
            )
            return runner, dependencies, await dask_executor.fetch(held_size)

    runner, dependencies, size = asyncio.run(scenario())

    held_blob = runner.results["blob"]
    completed = {e["phase_id"]: e for e in events if e["status"] == "completed"}
    assert isinstance(held_blob, DaskResult)
    assert dependencies == [held_blob.key]
    assert size == BLOB_BYTES
    assert "result" not in completed["blob"]
    assert completed["blob_size"]["result"] == BLOB_BYTES


def test_dask_executor_starts_and_closes_its_own_local_cluster() -> None:
    executor = DaskExecutor(n_workers=1, threads_per_worker=1, processes=False)
    wf = Workflow("w")
    wf.add("load", load, params={"n": 3})
    wf.add("total", total, after="load")

    with wf.run(executor=executor) as run:
        value = run.result("total")
        cluster = executor.cluster
    executor.shutdown()

    assert value == 6
    assert cluster is not None and cluster.status.name == "closed"
    with pytest.raises(DagStudioError, match="no longer on the Dask cluster"):
        run.result("total")


def test_dask_phase_timeout_does_not_count_the_cluster_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A cluster that takes 3 s to come up, far longer than the timeout (as
    # worker processes do on a busy machine).
    start_cluster = DaskExecutor._scheduler_address

    def slow_start(self: DaskExecutor) -> str:
        time.sleep(3)
        return start_cluster(self)

    monkeypatch.setattr(DaskExecutor, "_scheduler_address", slow_start)
    executor = DaskExecutor(n_workers=1, threads_per_worker=1, processes=False)
    wf = Workflow("w")
    wf.add("load", load, params={"n": 4}, timeout_s=1.5)

    with wf.run(executor=executor) as run:
        status, value = run.status, run.result("load")
    executor.shutdown()

    assert status == "completed", run.error
    assert value == [1, 2, 3, 4]


def test_dask_executor_uses_a_given_client_and_leaves_it_open(dask_client: Any) -> None:
    executor = DaskExecutor(client=dask_client)
    wf = Workflow("w")
    wf.add("load", load, params={"n": 5})
    wf.add("total", total, after="load")

    with wf.run(executor=executor) as run:
        value = run.result("total")
    executor.shutdown()

    assert value == 15
    assert dask_client.status == "running"
    assert dask_client.submit(total, [1, 2]).result() == 3


def test_dask_named_executor_fetches_results_before_its_cluster_closes() -> None:
    wf = Workflow("w")
    wf.add("load", load, params={"n": 4})
    wf.add("total", total, after="load")

    run = wf.run(executor="dask")

    assert run.status == "completed", run.error
    assert run.runner.results == {"load": [1, 2, 3, 4], "total": 10}
    assert run.result("total") == 10


@pytest.fixture
def jp_server_config(dagstudio_store_path: Any, dask_cluster: Any) -> dict[str, Any]:
    """The extension with python phases on the module's cluster."""
    return {
        "ServerApp": {"jpserver_extensions": {"dagstudio_jupyter": True}},
        "DagStudioApp": {
            "store_path": str(dagstudio_store_path),
            "executor": "dask",
            "dask_address": dask_cluster.scheduler_address,
        },
    }


async def test_dask_server_runs_python_refs_on_the_cluster(dagstudio_api: Any) -> None:
    document = {
        "format": FORMAT,
        "id": "dask",
        "name": "On Dask",
        "phases": [
            {
                "id": "make_numbers",
                "kind": "python",
                "ref": "tests.test_dask_executor:make_numbers",
                "params": {"n": 20_000},
            },
            {
                "id": "count_items",
                "kind": "python",
                "ref": "tests.test_dask_executor:count_items",
                "after": ["make_numbers"],
            },
        ],
    }

    status, body, _ = await dagstudio_api("POST", "executions", {"workflow": document})
    final = await wait_finished(dagstudio_api, body["id"])
    _, events, _ = await dagstudio_api("GET", f"executions/{body['id']}/events")

    completed = {
        e["phase_id"]: e for e in events["events"] if e["status"] == "completed"
    }
    assert status == 201
    assert final["status"] == "completed", final
    assert completed["count_items"]["result"]["count"] == 20_000
    assert "Dask-Default-Threads" in completed["count_items"]["result"]["thread"]
    # Its JSON is over 64 KiB: it stays on the cluster and is not kept.
    assert "result" not in completed["make_numbers"]


def test_dask_kernel_rerun_hands_results_left_on_the_cluster_to_the_new_run() -> None:
    executor = DaskExecutor(n_workers=1, threads_per_worker=1, processes=False)
    wf = Workflow("w")
    wf.add("load", load, params={"n": 3})
    wf.add("total", total, after="load")

    with wf.run(executor=executor) as run:
        # total needs load's result, which stayed on the cluster.
        again = run.rerun("total")
        value = again.result("total")
        again.close()
    executor.shutdown()

    assert again.status == "completed", again.error
    assert value == 6
