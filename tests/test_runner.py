"""Tests of the asyncio runner: parallelism, retries, timeouts, skips, cancel."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from dagstudio_jupyter import Workflow
from dagstudio_jupyter._state import ExecutionState
from dagstudio_jupyter.runner import Runner


def _run(wf: Workflow, **options: Any) -> tuple[Runner, list[dict]]:
    events: list[dict] = []
    runner = Runner(wf, emit=events.append, retry_backoff_s=0.01, **options)
    asyncio.run(runner.run())
    return runner, events


def _statuses(runner: Runner) -> dict[str, str]:
    return {pid: p["status"] for pid, p in runner.state.phases.items()}


def test_runner_passes_results_params_and_context_to_phases() -> None:
    wf = Workflow("w")
    wf.add("load", lambda: [3, 1, 2])
    wf.add("top", lambda load, n: sorted(load)[:n], after="load", params={"n": 2})
    wf.add(
        "ctx",
        lambda idempotency_key, attempt, upstream: (idempotency_key, attempt, upstream),
        after=["top"],
    )

    runner, _ = _run(wf)

    assert runner.results["top"] == [1, 2]
    key, attempt, upstream = runner.results["ctx"]
    assert key == f"{runner.execution_id}:ctx" and attempt == 1
    assert upstream == {"top": [1, 2]}


def test_runner_events_have_gap_free_seq_and_replay_to_final_state() -> None:
    wf = Workflow("w")
    for index in range(20):
        wf.add(f"p{index}", lambda: None, after=[f"p{index // 2}"] if index else [])

    runner, events = _run(wf)

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    replay = ExecutionState(runner.execution_id, wf.to_dict())
    for event in events:
        replay.apply(event)
    assert replay.to_dict()["phases"] == runner.state.to_dict()["phases"]
    assert replay.status == "completed" and all(
        p["status"] == "completed" for p in replay.phases.values()
    )


@pytest.mark.parametrize("limit", [1, 3])
def test_runner_respects_parallel_limit(limit: int) -> None:
    lock, active, peak = threading.Lock(), [0], [0]

    def work() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    wf = Workflow("w")
    for index in range(8):
        wf.add(f"p{index}", work)

    runner, _ = _run(wf, max_parallel=limit)

    assert peak[0] == limit
    assert set(_statuses(runner).values()) == {"completed"}


def test_runner_runs_coroutines_on_the_loop_in_parallel() -> None:
    both_started = asyncio.Event()
    started: list[str] = []

    async def wait_for_other(name: str) -> str:
        started.append(name)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 5)
        return name

    wf = Workflow("w")
    wf.add("a", wait_for_other, params={"name": "a"})
    wf.add("b", wait_for_other, params={"name": "b"})

    runner, _ = _run(wf)

    assert runner.results == {"a": "a", "b": "b"}


def test_runner_retries_until_success() -> None:
    calls: list[int] = []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 3:
            raise ConnectionError(f"try {attempt} lost")
        return "ok"

    wf = Workflow("w")
    wf.add("flaky", flaky, retries=2)

    runner, events = _run(wf)

    assert calls == [1, 2, 3]
    assert runner.state.phases["flaky"]["status"] == "completed"
    assert runner.state.phases["flaky"]["attempt"] == 3
    retries = [e for e in events if e.get("reason") == "retry"]
    assert [e["error"] for e in retries] == [
        "ConnectionError: try 1 lost",
        "ConnectionError: try 2 lost",
    ]


def test_runner_fails_phase_when_retries_run_out() -> None:
    wf = Workflow("w")
    wf.add("bad", lambda: 1 / 0, retries=1)

    runner, _ = _run(wf)

    phase = runner.state.phases["bad"]
    assert (phase["status"], phase["attempt"]) == ("failed", 2)
    assert phase["error"] == "ZeroDivisionError: division by zero"
    assert runner.state.status == "failed"
    assert (
        runner.state.error == "phase 'bad' failed: ZeroDivisionError: division by zero"
    )


def test_runner_times_out_a_slow_phase() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    wf = Workflow("w")
    wf.add("slow", slow, timeout_s=0.1, retries=1)
    wf.add("quick", lambda: "done")

    runner, _ = _run(wf)

    assert runner.state.phases["slow"]["status"] == "failed"
    assert runner.state.phases["slow"]["error"] == "timed out after 0.1 s"
    assert runner.state.phases["slow"]["attempt"] == 2
    assert runner.results["quick"] == "done"


def test_runner_skips_descendants_of_a_failure_and_finishes_other_branches() -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 1)
    wf.add("b", lambda a: a / 0, after="a")
    wf.add("c", lambda b: b, after="b")
    wf.add("d", lambda c: c, after="c")
    wf.add("e", lambda a: a + 1, after="a")
    wf.add("f", lambda e: e + 1, after="e")

    runner, _ = _run(wf)

    assert _statuses(runner) == {
        "a": "completed",
        "b": "failed",
        "c": "skipped",
        "d": "skipped",
        "e": "completed",
        "f": "completed",
    }
    assert runner.state.phases["c"]["error"] == "upstream phase 'b' failed"
    assert runner.results["f"] == 3
    assert runner.state.status == "failed"


def test_runner_cancel_stops_running_and_pending_phases() -> None:
    async def main() -> Runner:
        started = asyncio.Event()

        async def long() -> None:
            started.set()
            await asyncio.sleep(30)

        wf = Workflow("w")
        wf.add("first", lambda: 1)
        wf.add("long", long, after="first")
        wf.add("after_long", lambda long: long, after="long")
        runner = Runner(wf)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(started.wait(), 5)
        runner.cancel()
        await asyncio.wait_for(task, 5)
        return runner

    runner = asyncio.run(main())

    assert runner.state.status == "cancelled"
    assert _statuses(runner) == {
        "first": "completed",
        "long": "cancelled",
        "after_long": "cancelled",
    }


def test_runner_shell_phase_gets_idempotency_env_and_reports_exit_status(
    tmp_path,
) -> None:
    wf = Workflow("w")
    wf.add("env", command='echo "$DAGSTUDIO_IDEMPOTENCY_KEY $DAGSTUDIO_ATTEMPT"')
    wf.add("fail", command=["sh", "-c", "echo boom; exit 3"], after="env")

    runner, events = _run(wf)

    done = next(
        e for e in events if e["phase_id"] == "env" and e["status"] == "completed"
    )
    assert done["output"].strip() == f"{runner.execution_id}:env 1"
    assert runner.state.phases["fail"]["error"] == "command exited with status 3: boom"


def test_runner_resumes_without_rerunning_completed_phases() -> None:
    calls: list[str] = []
    wf = Workflow("w")
    wf.add("a", lambda: calls.append("a") or 1)
    wf.add("b", lambda a, attempt: calls.append(f"b{attempt}") or a + 1, after="a")
    first, events = _run(wf)
    state = ExecutionState(first.execution_id, wf.to_dict())
    for event in events:
        if event["phase_id"] == "b" and event["status"] == "completed":
            break
        state.apply(event)

    resumed = Runner(wf, state=state, results={"a": 1})
    asyncio.run(resumed.run(reason="recovered"))

    assert calls == ["a", "b1", "b2"]
    assert resumed.state.status == "completed"
    assert resumed.results["b"] == 2


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (SystemExit(3), "the phase raised SystemExit: 3"),
        (KeyboardInterrupt(), "the phase raised KeyboardInterrupt: "),
        (GeneratorExit(), "the phase raised GeneratorExit: "),
    ],
)
def test_runner_fails_only_the_phase_when_code_raises_a_base_exception(
    raised: BaseException, expected: str
) -> None:
    def phase() -> None:
        raise raised

    wf = Workflow("w")
    wf.add("bad", phase)
    wf.add("other", lambda: "fine")

    runner, _ = _run(wf)

    assert runner.state.status == "failed"
    assert runner.state.phases["bad"]["error"] == expected
    assert runner.results["other"] == "fine"


def test_runner_treats_cancelled_error_from_a_coroutine_as_its_failure() -> None:
    async def gives_up() -> None:
        raise asyncio.CancelledError

    wf = Workflow("w")
    wf.add("coro", gives_up)
    wf.add("other", lambda: 1)

    runner, _ = _run(wf)

    assert runner.state.phases["coro"]["status"] == "failed"
    assert runner.state.phases["coro"]["error"] == "the phase raised CancelledError"
    assert runner.state.phases["other"]["status"] == "completed"


def test_runner_error_text_is_valid_utf8_bounded_and_survives_a_broken_str() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str explodes")

    def half_emoji() -> None:
        raise ValueError("Zo\ud83d")

    def huge() -> None:
        raise ValueError("x" * 100_000)

    def unprintable() -> None:
        raise Unprintable

    wf = Workflow("w")
    for name, func in [("half", half_emoji), ("huge", huge), ("odd", unprintable)]:
        wf.add(name, func)

    runner, events = _run(wf)

    errors = {pid: p["error"] for pid, p in runner.state.phases.items()}
    assert errors["half"] == "ValueError: Zo?"
    assert len(errors["huge"]) < 2100 and errors["huge"].endswith("more characters)")
    assert errors["odd"].startswith("Unprintable: <the exception's message")
    for event in events:
        (event["error"] or "").encode("utf-8")


def test_runner_hung_threads_do_not_starve_later_phases() -> None:
    release = threading.Event()
    wf = Workflow("w")
    wf.add("hangs", lambda: release.wait(10), timeout_s=0.1, retries=2)
    wf.add("later", lambda: "ran", timeout_s=5)

    runner, _ = _run(wf, max_parallel=1)
    release.set()

    assert runner.state.phases["hangs"]["attempt"] == 3
    assert runner.results["later"] == "ran"
