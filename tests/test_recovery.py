"""A real server killed (SIGKILL) or stopped (SIGTERM) mid-run resumes its executions.

Each execution is `prep -> a, b, c, d -> join`, every phase a shell command
that records its pid, sleeps, and then appends `<execution id> <phase id>
<attempt>` to a file of its own, its only side effect. While a `hold` file
exists, `b`, `c`, `d` and `join` wait before that last step. So the stop
always finds the same picture, however slow the machine: `prep` and `a`
completed (one line each), `b`, `c`, `d` running (or queued, with a
parallel limit of 2) and no line written, `join` pending. After the restart
every file must hold exactly one line, with the attempt the store reports.
A notebook phase is stopped and killed the same way, kernel and all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dagstudio_jupyter.store import DuckDBStore

from ._server import DagServer, running_server, start_server

T = TypeVar("T")
FORMAT = "dagstudio.workflow/1"
FAN = ("a", "b", "c", "d")
PHASES = ("prep", *FAN, "join")
HELD = frozenset({"b", "c", "d", "join"})
DONE = frozenset({"completed", "failed", "cancelled"})


@dataclass
class Scene:
    """The folders of one recovery test."""

    home: Path
    root: Path
    store: Path
    side: Path

    @property
    def hold(self) -> Path:
        return self.side / "hold"

    def server_options(self) -> dict[str, Any]:
        return {"root_dir": self.root, "store_path": self.store, "debug": True}


@pytest.fixture
def dagstudio_scene(tmp_path: Path) -> Iterator[Scene]:
    """Folders for a server, its store and the phases' side effects."""
    side = tmp_path / "side"
    (side / "pids").mkdir(parents=True)
    scene = Scene(tmp_path / "home", tmp_path / "root", tmp_path / "store.duckdb", side)
    yield scene
    _kill_phase_processes(scene)  # whatever a failed test left behind


def _command(side: Path, phase_id: str, sleep_s: float) -> str:
    gate = f'while [ -e "{side}/hold" ]; do sleep 0.05; done\n'
    return (
        'key="$DAGSTUDIO_IDEMPOTENCY_KEY"; attempt="$DAGSTUDIO_ATTEMPT"\n'
        f'echo $$ > "{side}/pids/$key.$attempt.pid"\n'
        f"sleep {sleep_s}\n"
        f"{gate if phase_id in HELD else ''}"
        'execution="${key%%:*}"; phase="${key#*:}"\n'
        f'echo "$execution $phase $attempt" >> "{side}/$execution-$phase.log"'
    )


def _workflow(number: int, side: Path, sleep_s: float) -> dict[str, Any]:
    after = {"prep": [], **{pid: ["prep"] for pid in FAN}, "join": list(FAN)}
    phases = [
        {
            "id": pid,
            "kind": "shell",
            "command": _command(side, pid, sleep_s),
            "after": after[pid],
        }
        for pid in PHASES
    ]
    return {"format": FORMAT, "id": f"recovery-{number}", "phases": phases}


def _submit(
    server: DagServer, scene: Scene, count: int, sleep_s: float
) -> dict[str, int]:
    """Start `count` executions; return their ids with their parallel limits."""
    limits = {}
    for number in range(count):
        limit = 2 if number % 2 else 4
        body = {
            "workflow": _workflow(number, scene.side, sleep_s),
            "options": {"max_parallel": limit},
        }
        status, answer = server.api("POST", "dagstudio/api/executions", body)
        assert status == 201, answer
        limits[answer["id"]] = limit
    return limits


def _snapshot(server: DagServer, ids: list[str]) -> dict[str, dict[str, Any]]:
    snapshot = {}
    for execution_id in ids:
        status, body = server.api("GET", f"dagstudio/api/executions/{execution_id}")
        if status != 200:
            _, listed = server.api("GET", "dagstudio/api/executions?limit=500")
            raise AssertionError(
                f"GET execution {execution_id}: {status} {body}; the list holds"
                f" {listed}\n{server.log_text()[-6000:]}"
            )
        snapshot[execution_id] = body
    return snapshot


def _statuses(execution: dict[str, Any]) -> dict[str, str]:
    return {phase["id"]: phase["status"] for phase in execution["phases"]}


def _phase_states(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {phase["id"]: phase for phase in execution["phases"]}


def _lines(scene: Scene, execution_id: str, phase_id: str) -> list[str]:
    path = scene.side / f"{execution_id}-{phase_id}.log"
    return path.read_text().splitlines() if path.exists() else []


def _wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _held(limit: int) -> dict[str, str]:
    """The phases' statuses once an execution with this limit reached the hold."""
    fan = ["running"] * 3 if limit == 4 else ["running", "running", "queued"]
    return {"prep": "completed", "a": "completed", "join": "pending"} | dict(
        zip(("b", "c", "d"), fan, strict=True)
    )


def _wait_at_hold(
    server: DagServer, scene: Scene, limits: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Wait until every execution stands still at the hold; return the store's view."""

    def at_hold() -> dict[str, dict[str, Any]] | None:
        snapshot = _snapshot(server, list(limits))
        for execution_id, execution in snapshot.items():
            statuses = _statuses(execution)
            # Which of b, c, d got the slots under a limit of 2 is not fixed.
            if sorted(statuses.values()) != sorted(
                _held(limits[execution_id]).values()
            ):
                return None
            if any(statuses[pid] != "completed" for pid in ("prep", "a")):
                return None
            # "running" is stored before the command starts; wait for its pid.
            for phase in execution["phases"]:
                if phase["status"] == "running" and not _pid_of(
                    scene, execution_id, phase
                ):
                    return None
        return snapshot

    snapshot = _wait_for(at_hold, 30, "every execution to reach the hold")
    for execution_id, execution in snapshot.items():
        for pid, status in _statuses(execution).items():
            wrote = _lines(scene, execution_id, pid)
            assert bool(wrote) == (status == "completed"), (execution_id, pid)
    return snapshot


def _pid_of(scene: Scene, execution_id: str, phase: dict[str, Any]) -> int:
    path = scene.side / "pids" / f"{execution_id}:{phase['id']}.{phase['attempt']}.pid"
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _phase_pids(scene: Scene) -> dict[str, int]:
    return {
        path.name: int(path.read_text() or 0)
        for path in (scene.side / "pids").glob("*.pid")
    }


def _is_our_phase(pid: int, scene: Scene) -> bool:
    """Whether `pid` still runs one of this test's phase commands."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(scene.side).encode() in cmdline


def _kill_phase_processes(scene: Scene) -> list[str]:
    """SIGKILL the phase commands still running; return which ones were."""
    survivors = []
    for name, pid in _phase_pids(scene).items():
        if pid > 0 and _is_our_phase(pid, scene):
            survivors.append(name)
            # Each phase runs in a session of its own, so its pid is its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    return survivors


def _wait_all_finished(
    server: DagServer, ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    def finished() -> dict[str, dict[str, Any]] | None:
        snapshot = _snapshot(server, ids)
        return snapshot if all(e["status"] in DONE for e in snapshot.values()) else None

    return _wait_for(finished, timeout, "every execution to finish")


def _events(server: DagServer, execution_id: str) -> list[dict[str, Any]]:
    path = f"dagstudio/api/executions/{execution_id}/events?since=0"
    status, body = server.api("GET", path)
    assert status == 200, body
    events: list[dict[str, Any]] = body["events"]
    return events


def _check_resumed(
    server: DagServer,
    scene: Scene,
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
) -> None:
    """Every invariant of a resumed run, checked for each execution and phase."""
    for execution_id, execution in after.items():
        assert execution["status"] == "completed", execution
        old, new = _phase_states(before[execution_id]), _phase_states(execution)
        for pid, phase in new.items():
            where = f"{execution_id} {pid} (before: {old[pid]}, after: {phase})"
            assert phase["status"] == "completed", where
            lines = _lines(scene, execution_id, pid)
            assert lines == [f"{execution_id} {pid} {phase['attempt']}"], where
            if old[pid]["status"] == "completed":
                assert phase["attempt"] == old[pid]["attempt"] == 1, where
            elif old[pid]["status"] == "running":
                assert phase["attempt"] == old[pid]["attempt"] + 1 == 2, where
            else:  # queued or pending: it had never started
                assert phase["attempt"] == 1, where
        events = _events(server, execution_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert execution["last_seq"] == len(events)
        recovered = [
            e
            for e in events
            if e.get("phase_id") is None and e.get("reason") == "recovered"
        ]
        if before[execution_id]["status"] == "completed":
            assert recovered == [], execution_id
        else:
            assert len(recovered) == 1, f"{execution_id}: {recovered}"
            assert recovered[0]["status"] == "running"


def _same_server(scene: Scene, server: DagServer) -> dict[str, Any]:
    """Options to start `server` again: same store, port, token and cookies."""
    return {
        **scene.server_options(),
        "token": server.token,
        "jwt_secret": server.jwt_secret,
        "port": server.port,
        "cookies": server.cookies,
    }


def _restart(scene: Scene, server: DagServer) -> AbstractContextManager[DagServer]:
    """`server` started again, stopped when the block ends."""
    return running_server(scene.home, **_same_server(scene, server))


def test_recovery_after_sigkill_runs_each_phase_to_completion_once(
    dagstudio_scene: Scene,
) -> None:
    scene = dagstudio_scene
    server = start_server(scene.home, **scene.server_options())
    try:
        fast = _submit(server, scene, 3, sleep_s=0)
        finished = _wait_all_finished(server, list(fast), 30)
        scene.hold.touch()
        slow = _submit(server, scene, 17, sleep_s=0.2)
        before = finished | _wait_at_hold(server, scene, slow)
    finally:
        server.kill()
    # Phase commands die with their server (parent-death signal), so nothing
    # of the old attempts runs beside the resumed ones.
    time.sleep(0.5)
    orphans = _kill_phase_processes(scene)
    assert orphans == []
    scene.hold.unlink()

    with _restart(scene, server) as restarted:
        after = _wait_all_finished(restarted, [*fast, *slow], 40)

        _check_resumed(restarted, scene, before, after)


def test_recovery_after_a_clean_stop_resumes_running_phases(
    dagstudio_scene: Scene,
) -> None:
    scene = dagstudio_scene
    scene.hold.touch()
    with running_server(scene.home, **scene.server_options()) as server:
        limits = _submit(server, scene, 3, sleep_s=0.2)
        before = _wait_at_hold(server, scene, limits)

        assert server.stop(timeout=30) == 0

    assert _kill_phase_processes(scene) == []  # a clean stop ends its phases
    scene.hold.unlink()
    with _restart(scene, server) as restarted:
        after = _wait_all_finished(restarted, list(limits), 30)

        _check_resumed(restarted, scene, before, after)


def test_recovery_stop_during_recovery_never_reruns_completed_phases(
    dagstudio_scene: Scene,
) -> None:
    scene = dagstudio_scene
    scene.hold.touch()
    server = start_server(scene.home, **scene.server_options())
    try:
        limits = _submit(server, scene, 20, sleep_s=0)
        before = _wait_at_hold(server, scene, limits)
    finally:
        server.kill()
    _kill_phase_processes(scene)
    scene.hold.unlink()
    with _restart(scene, server) as interrupted:
        try:
            interrupted.stop(timeout=10)  # while it is still resuming executions
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not exit within 10 s of SIGTERM")
    _kill_phase_processes(scene)
    after_stop = interrupted.log_text().rsplit("received signal 15", 1)[1]
    assert "could not be resumed" not in after_stop
    assert "stopped by an internal error" not in after_stop
    with DuckDBStore(scene.store) as store:
        completed_at_stop = {
            (execution_id, phase["id"]): _lines(scene, execution_id, phase["id"])
            for execution_id in limits
            for phase in store.get_execution(execution_id)["phases"]
            if phase["status"] == "completed"
        }

    with _restart(scene, server) as restarted:
        _wait_all_finished(restarted, list(limits), 40)

    # A phase stopped after its work but before its completion was committed
    # runs again (at least once, with a higher attempt); a phase the store
    # holds as completed never does.
    rerun = {
        key: lines
        for key, lines in completed_at_stop.items()
        if _lines(scene, *key) != lines
    }
    assert rerun == {}, f"completed phases ran again: {rerun}"
    for execution_id in limits:
        for pid in PHASES:
            attempts = [line.split()[-1] for line in _lines(scene, execution_id, pid)]
            assert attempts and len(set(attempts)) == len(attempts), (pid, attempts)
    assert before


def _kernel_pid(scene: Scene, attempt: int) -> int:
    path = scene.side / f"kernel.{attempt}.pid"
    return int(path.read_text()) if path.exists() and path.read_text() else 0


def _is_kernel(pid: int) -> bool:
    """Whether `pid` is a live IPython kernel (not a zombie)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and b"ipykernel" in cmdline


def _kill_kernel(pid: int) -> bool:
    """SIGKILL a kernel this test's server started; False when it had gone."""
    if not _is_kernel(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def test_recovery_reruns_a_notebook_phase_with_attempt_raised(
    dagstudio_scene: Scene,
) -> None:
    import nbformat

    scene = dagstudio_scene
    scene.root.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell("side = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, pathlib, time\n"
            "pathlib.Path(side, f'kernel.{attempt}.pid').write_text(str(os.getpid()))\n"
            "while pathlib.Path(side, 'hold').exists():\n"
            "    time.sleep(0.05)\n"
            "with open(pathlib.Path(side, 'notebook.log'), 'a') as log:\n"
            "    print(idempotency_key, attempt, file=log)\n"
            "print('notebook done at attempt', attempt)"
        ),
    ]
    nbformat.write(notebook, scene.root / "report.ipynb")
    workflow = {
        "format": FORMAT,
        "id": "notebook-recovery",
        "phases": [
            {"id": "prep", "kind": "shell", "command": "true"},
            {
                "id": "nb",
                "kind": "notebook",
                "path": "report.ipynb",
                "after": ["prep"],
                "params": {"side": str(scene.side)},
            },
        ],
    }
    scene.hold.touch()
    server = start_server(scene.home, **scene.server_options())
    try:
        status, execution = server.api(
            "POST", "dagstudio/api/executions", {"workflow": workflow}
        )
        assert status == 201, execution
        execution_id = execution["id"]
        _wait_for(lambda: _kernel_pid(scene, 1), 60, "the first kernel")
        assert server.stop(timeout=30) == 0  # a clean stop shuts the kernel down
        assert not _kill_kernel(_kernel_pid(scene, 1)), "kernel 1 outlived a stop"

        server = start_server(scene.home, **_same_server(scene, server))
        _wait_for(lambda: _kernel_pid(scene, 2), 60, "the second kernel")
    finally:
        server.kill()
    # Unlike a shell command, the kernel sees its parent die and exits by
    # itself within a second or so (ipykernel polls its parent pid).
    orphan = _kernel_pid(scene, 2)
    _wait_for(lambda: not _is_kernel(orphan), 10, "the orphaned kernel to exit")
    scene.hold.unlink()

    with _restart(scene, server) as restarted:
        final = _wait_all_finished(restarted, [execution_id], 60)[execution_id]
        events = _events(restarted, execution_id)

    assert final["status"] == "completed", final
    assert _phase_states(final)["nb"]["attempt"] == 3
    log = (scene.side / "notebook.log").read_text().splitlines()
    assert log == [f"{execution_id}:nb 3"]
    copy = scene.root / ".dagstudio-runs" / f"report.{execution_id}.nb.3.ipynb"
    completed = [
        e for e in events if e["phase_id"] == "nb" and e["status"] == "completed"
    ]
    assert completed[-1]["result"] == {"executed_path": str(copy)}
    assert "notebook done at attempt 3" in completed[-1]["output"]
    assert completed[-1]["output"].endswith(f"executed notebook: {copy}\n")
    executed = nbformat.read(copy, as_version=4)
    assert [c.metadata.get("tags") for c in executed.cells[:2]] == [
        ["parameters"],
        ["injected-parameters"],
    ]
    reasons = [e.get("reason") for e in events if e["phase_id"] is None]
    assert reasons.count("recovered") == 2
