"""Faults a real server must survive: SIGKILL, a read-only or full disk, bad phases.

Most tests run `jupyter server` as a subprocess (tests/_server.py) on a
DuckDB file of its own. The SIGKILL test kills the server at moments drawn
from a seeded generator: `DAGSTUDIO_FAULT_SEED` picks the seed (named in
every failure) and `DAGSTUDIO_FULL_FAULTS=1` runs 40 rounds instead of 10.

The disk tests mount small tmpfs file systems and read-only bind mounts,
which needs root (CAP_SYS_ADMIN); where mounting is refused they are
skipped, saying why.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

from dagstudio_jupyter._state import ExecutionState
from dagstudio_jupyter.errors import InvalidWorkflowError, StoreError
from dagstudio_jupyter.store import DuckDBStore
from dagstudio_jupyter.workflow import Workflow

from ._lab import free_port, isolated_env
from ._server import (
    DagServer,
    _write_config,
    record_log,
    record_secret,
    server_command,
    start_server,
)

T = TypeVar("T")
FORMAT = "dagstudio.workflow/1"
API = "dagstudio/api"
DONE = frozenset({"completed", "failed", "cancelled"})
FULL = os.environ.get("DAGSTUDIO_FULL_FAULTS") == "1"
ROUNDS = 40 if FULL else 10
SEED = int(os.environ.get("DAGSTUDIO_FAULT_SEED", "20240917"))
# A python phase's module, imported by the server from its root folder.
JOBS = '''"""Python phases of the fault tests."""

import time


def step(idempotency_key, attempt, pause=0.02):
    time.sleep(pause)
    return {"key": idempotency_key, "attempt": attempt}
'''


@dataclass
class Scene:
    """The folders of one fault test and the options of its server."""

    home: Path
    root: Path
    store: Path
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, like: DagServer | None = None) -> DagServer:
        """Start a server; given `like`, as the same user on the same port."""
        options: dict[str, Any] = {}
        if like is not None:
            options = {
                "token": like.token,
                "jwt_secret": like.jwt_secret,
                "port": like.port,
                "cookies": like.cookies,
            }
        return start_server(
            self.home,
            root_dir=self.root,
            store_path=self.store,
            config=self.config,
            **options,
        )


@pytest.fixture
def dagstudio_scene(tmp_path: Path) -> Scene:
    """Folders for a server: its home, its root (with the jobs module), its store."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "faultjobs.py").write_text(JOBS, encoding="utf-8")
    return Scene(tmp_path / "home", root, tmp_path / "store" / "executions.duckdb")


@contextlib.contextmanager
def killed_at_exit(server: DagServer) -> Iterator[DagServer]:
    """`server`, SIGKILLed when the block ends if it still runs."""
    try:
        yield server
    finally:
        server.kill()


def _wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _pipeline(name: str) -> dict[str, Any]:
    """Shell and python phases, and a fan of noop phases for bursts of events."""
    fan = [f"n{i}" for i in range(6)]
    phases: list[dict[str, Any]] = [
        {"id": "fetch", "kind": "shell", "command": "sleep 0.05; echo fetched"},
        {"id": "parse", "kind": "python", "ref": "faultjobs:step", "after": ["fetch"]},
        *({"id": pid, "kind": "noop", "after": ["parse"]} for pid in fan),
        {
            "id": "train",
            "kind": "python",
            "ref": "faultjobs:step",
            "after": fan,
            "params": {"pause": 0.05},
        },
        {
            "id": "report",
            "kind": "shell",
            "command": ["sh", "-c", 'echo "$DAGSTUDIO_IDEMPOTENCY_KEY"'],
            "after": ["train"],
        },
    ]
    return {"format": FORMAT, "id": name, "phases": phases}


def _submit(server: DagServer, name: str) -> str:
    status, body = server.api(
        "POST", f"{API}/executions", {"workflow": _pipeline(name)}
    )
    assert status == 201, body
    return str(body["id"])


def _execution(server: DagServer, execution_id: str) -> dict[str, Any]:
    status, body = server.api("GET", f"{API}/executions/{execution_id}")
    assert status == 200, f"GET execution {execution_id}: {status} {body}"
    return dict(body)


def _events(server: DagServer, execution_id: str, since: int = 0) -> list[Any]:
    path = f"{API}/executions/{execution_id}/events?since={since}"
    status, body = server.api("GET", path)
    assert status == 200, f"GET events of {execution_id}: {status} {body}"
    return list(body["events"])


def _wait_finished(
    server: DagServer, ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    def finished() -> dict[str, dict[str, Any]] | None:
        executions = {eid: _execution(server, eid) for eid in ids}
        done = all(e["status"] in DONE for e in executions.values())
        return executions if done else None

    return _wait_for(finished, timeout, f"{len(ids)} execution(s) to finish")


@dataclass
class Ledger:
    """What clients were told before a crash: accepted ids, committed events."""

    accepted: list[str] = field(default_factory=list)
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check_against(self, server: DagServer, where: str) -> None:
        """Every accepted execution exists; every event seen is kept, gap-free."""
        for execution_id in self.accepted:
            # Events first: recovery may be adding more meanwhile.
            events = _events(server, execution_id)
            execution = _execution(server, execution_id)
            seqs = [event["seq"] for event in events]
            assert seqs == list(range(1, len(events) + 1)), (where, execution_id, seqs)
            assert execution["last_seq"] >= len(events), (where, execution)
            seen = self.seen.get(execution_id, [])
            assert events[: len(seen)] == seen, (
                f"{where}: events of {execution_id} changed across the crash"
            )


def _watch(
    server: DagServer, ledger: Ledger, stop: threading.Event, rng: random.Random
) -> tuple[threading.Thread, threading.Thread]:
    """Submit executions and read their committed events until `stop` or a crash."""
    count = rng.randint(2, 7)
    gaps = [rng.uniform(0, 0.15) for _ in range(count)]

    def submit() -> None:
        for gap in gaps:
            if stop.wait(gap):
                return
            try:
                execution_id = _submit(server, f"kill-{uuid.uuid4().hex[:6]}")
            except (OSError, AssertionError):
                return  # the server is gone: a POST without a 201 proves nothing
            ledger.accepted.append(execution_id)

    def read() -> None:
        while not stop.is_set():
            for execution_id in list(ledger.accepted):
                seen = ledger.seen.setdefault(execution_id, [])
                try:
                    events = _events(server, execution_id, len(seen))
                except (OSError, AssertionError):
                    return
                expected = list(range(len(seen) + 1, len(seen) + len(events) + 1))
                if [event["seq"] for event in events] != expected:
                    ledger.problems.append(f"{execution_id}: seqs of {events}")
                seen.extend(events)
            stop.wait(0.02)

    threads = (
        threading.Thread(target=submit, name="fault-submit"),
        threading.Thread(target=read, name="fault-read"),
    )
    for thread in threads:
        thread.start()
    return threads


def _check_store_file(path: Path, ledger: Ledger) -> None:
    """The stopped server's file opens; its events are gap-free and complete."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT execution_id, count(*), count(DISTINCT seq), min(seq), max(seq)"
            " FROM events GROUP BY execution_id"
        ).fetchall()
        by_id = {row[0]: row[1:] for row in rows}
        last = dict(conn.execute("SELECT id, last_seq FROM executions").fetchall())
        statuses = dict(conn.execute("SELECT id, status FROM executions").fetchall())
        stored = conn.execute(
            "SELECT execution_id, seq, status, phase_id FROM events"
        ).fetchall()
    stored_keys = {(eid, seq): (status, pid) for eid, seq, status, pid in stored}
    for execution_id in ledger.accepted:
        count, distinct, low, high = by_id[execution_id]
        assert count == distinct == high == last[execution_id], execution_id
        assert low == 1, execution_id
        assert statuses[execution_id] == "completed", execution_id
        for event in ledger.seen.get(execution_id, []):
            key = (execution_id, event["seq"])
            assert stored_keys[key] == (event["status"], event["phase_id"]), key


@pytest.mark.timeout(1800 if FULL else 300)
def test_faults_sigkill_at_random_moments_loses_nothing_committed(
    dagstudio_scene: Scene,
) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    server = dagstudio_scene.start()
    try:
        for number in range(ROUNDS):
            where = f"round {number} (seed {SEED})"
            ledger.check_against(server, where)
            stop = threading.Event()
            threads = _watch(server, ledger, stop, rng)
            time.sleep(rng.uniform(0.02, 1.0))  # the crash lands at a random moment

            server.kill()
            stop.set()
            for thread in threads:
                thread.join()
            assert ledger.problems == [], (where, ledger.problems)
            server = dagstudio_scene.start(like=server)

        ledger.check_against(server, f"after the last round (seed {SEED})")
        finished = _wait_finished(server, ledger.accepted, 90)
        assert {e["status"] for e in finished.values()} == {"completed"}, finished
        ledger.check_against(server, "once every execution finished")
        recovered = [
            event
            for execution_id in ledger.accepted
            for event in _events(server, execution_id)
            if event.get("reason") == "recovered"
        ]
        assert server.stop(timeout=30) == 0
    finally:
        server.kill()

    assert len(ledger.accepted) >= ROUNDS
    assert recovered, "no crash landed while an execution ran"
    _check_store_file(dagstudio_scene.store, ledger)
    assert not Path(f"{dagstudio_scene.store}.wal").exists()


# Disks: small tmpfs file systems and read-only bind mounts, root only.


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not permitted here: {result.stderr}")


def _unmount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder`, unmounted when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _unmount(folder)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` made read-only for everyone, root included, within the block."""
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        _unmount(folder)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its disk is full; return the file."""
    junk = folder / "junk"
    fd = os.open(junk, os.O_WRONLY | os.O_CREAT, 0o600)
    stops = []
    try:
        for size in (1 << 20, 4096, 1):  # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                stops.append(exc.errno)
    finally:
        os.close(fd)
    assert stops == [errno.ENOSPC] * 3
    return junk


def _start_without_store(scene: Scene) -> DagServer:
    """Start a server whose store cannot open: ready once `api/status` answers.

    `start_server` waits for the executions endpoint, which answers 503 here.
    """
    token, secret = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    record_secret(token, "Jupyter token")
    record_secret(secret, "JWT secret")
    log_path = scene.home / "server.log"
    scene.home.mkdir(parents=True, exist_ok=True)
    record_log(log_path)
    env = isolated_env(scene.home, token)
    env["JWT_SECRET_KEY"] = secret
    _write_config(Path(env["JUPYTER_CONFIG_DIR"]), scene.store, scene.config)
    port = free_port()
    command = server_command(port, scene.root)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=scene.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    server = DagServer(url, token, secret, scene.root, scene.store, log_path, process)

    def answers() -> bool:
        assert process.poll() is None, server.log_text()
        with contextlib.suppress(OSError):
            return server.api("GET", "api/status", timeout=2)[0] == 200
        return False

    try:
        _wait_for(answers, 60, "the server to answer")
    except BaseException:
        server.kill()
        raise
    return server


def _finished_execution(store: DuckDBStore, execution_id: str) -> None:
    workflow = _pipeline("kept")
    state = ExecutionState(execution_id, workflow, owner="someone")
    store.create_execution(state.to_dict())
    events = []
    for status in ("running", "completed"):
        for phase in [None, *(p["id"] for p in workflow["phases"])]:
            event = {
                "seq": state.last_seq + 1,
                "at": "2024-05-01T12:00:00.000000Z",
                "execution_id": execution_id,
                "phase_id": phase,
                "status": status,
                "attempt": 1,
                "error": None,
            }
            state.apply(event)
            events.append(event)
    store.append_events(events)


def _store_rows(path: Path) -> dict[str, list[Any]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ("executions", "phases", "events", "meta")
        }


def test_faults_read_only_store_folder_answers_503_naming_path_and_cause(
    dagstudio_scene: Scene,
) -> None:
    scene = dagstudio_scene
    scene.store.parent.mkdir(parents=True)
    with DuckDBStore(scene.store) as store:
        _finished_execution(store, "kept-1")
    rows, raw = _store_rows(scene.store), scene.store.read_bytes()
    before = sorted(path.name for path in scene.store.parent.iterdir())

    with read_only(scene.store.parent):
        server = _start_without_store(scene)
        with killed_at_exit(server):
            listed = server.api("GET", f"{API}/executions")
            body = {"workflow": _pipeline("refused")}
            submitted = server.api("POST", f"{API}/executions", body)
            assert server.stop(timeout=30) == 0

    for status, answer in (listed, submitted):
        assert status == 503, answer
        assert answer["error"] == "store_unavailable"
        assert str(scene.store) in answer["message"]
        assert "the file system is read-only" in answer["message"]
    assert server.log_text().count("DAG Studio: the execution store cannot") == 1
    assert sorted(path.name for path in scene.store.parent.iterdir()) == before
    assert scene.store.read_bytes() == raw
    assert _store_rows(scene.store) == rows


def _gated(name: str, hold: Path, fan: int) -> dict[str, Any]:
    """A phase waiting while `hold` exists, then a fan of noop phases, then one."""
    wait = f'while [ -e "{hold}" ]; do sleep 0.02; done'
    fan_ids = [f"f{i}" for i in range(fan)]
    phases: list[dict[str, Any]] = [
        {"id": "gate", "kind": "shell", "command": wait},
        *({"id": pid, "kind": "noop", "after": ["gate"]} for pid in fan_ids),
        {"id": "last", "kind": "shell", "command": "echo done", "after": fan_ids},
    ]
    return {"format": FORMAT, "id": name, "phases": phases}


def _phase_status(server: DagServer, execution_id: str, phase_id: str) -> str:
    phases = _execution(server, execution_id)["phases"]
    return next(str(p["status"]) for p in phases if p["id"] == phase_id)


def test_faults_full_disk_fails_commits_clearly_and_recovers_when_freed(
    dagstudio_scene: Scene, tmp_path: Path
) -> None:
    scene = dagstudio_scene
    hold = tmp_path / "hold"
    hold.touch()
    with small_disk(tmp_path / "disk", "24m") as disk:
        scene.store = disk / "executions.duckdb"
        server = scene.start()
        with killed_at_exit(server):
            # Over a page of the disk, so it cannot fit where a WAL page ends.
            body = {"workflow": _gated("gated", hold, 200)}
            status, execution = server.api("POST", f"{API}/executions", body)
            assert status == 201, execution
            execution_id = execution["id"]
            _wait_for(
                lambda: _phase_status(server, execution_id, "gate") == "running",
                30,
                "the gate phase to run",
            )
            seen = _events(server, execution_id)
            junk = fill(disk)
            hold.unlink()  # the run goes on, and its events cannot be committed
            _wait_for(
                lambda: "the disk is full" in server.log_text(),
                30,
                "the failed commit in the log",
            )
            refused, _ = server.api("POST", f"{API}/executions", body)
            kept = _events(server, execution_id)  # reads go on

            junk.unlink()
            finished = _wait_finished(server, [execution_id], 30)[execution_id]
            events = _events(server, execution_id)
            after = server.api(
                "POST", f"{API}/executions", {"workflow": _pipeline("after")}
            )
            assert after[0] == 201, after
            again = _wait_finished(server, [after[1]["id"]], 30)
            listed = server.api("GET", f"{API}/executions")[1]["executions"]
            assert server.stop(timeout=30) == 0

        _check_store_file(
            scene.store, Ledger([execution_id, after[1]["id"]], {execution_id: seen})
        )

    failed_commit = next(
        line for line in server.log_text().splitlines() if "the disk is full" in line
    )
    assert f"cannot commit events to store {str(scene.store)!r}" in failed_commit
    assert kept[: len(seen)] == seen
    assert finished["status"] == "completed", finished
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[: len(seen)] == seen
    assert again[after[1]["id"]]["status"] == "completed"
    assert refused != 201
    assert sorted(e["id"] for e in listed) == sorted([execution_id, after[1]["id"]])


@pytest.fixture
def dagstudio_full_disk_store(tmp_path: Path) -> Iterator[Path]:
    """A store path on a small disk of its own."""
    with small_disk(tmp_path / "disk", "8m") as disk:
        yield disk / "executions.duckdb"


@pytest.fixture
def dagstudio_store_path(dagstudio_full_disk_store: Path) -> Path:
    """The in-process server's store, on a small disk (overrides the root one)."""
    return dagstudio_full_disk_store


async def test_faults_submit_on_full_disk_answers_503_saying_so(
    dagstudio_api: Callable[..., Any], dagstudio_store_path: Path
) -> None:
    body = {"workflow": _gated("big", dagstudio_store_path.parent / "hold", 200)}
    junk = fill(dagstudio_store_path.parent)

    status, answer, _ = await dagstudio_api("POST", "executions", body)
    junk.unlink()
    after, _, _ = await dagstudio_api("POST", "executions", body)

    assert after == 201
    assert status == 503, answer
    assert answer["error"] == "store_unavailable"
    assert "the disk is full" in answer["message"]
    assert str(dagstudio_store_path) in answer["message"]


def test_faults_store_reopens_after_fatal_checkpoint_on_full_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seqs: list[int] = []
    workflow = {"format": FORMAT, "id": "w", "phases": [{"id": "p", "kind": "noop"}]}
    state = ExecutionState("e-1", workflow, owner="someone")

    def events(count: int) -> list[dict[str, Any]]:
        made = []
        for _ in range(count):
            event = {
                "seq": state.last_seq + 1,
                "at": "2024-05-01T12:00:00.000000Z",
                "execution_id": state.id,
                "phase_id": "p",
                "status": "running",
                "attempt": state.last_seq + 1,
                "error": "x" * 400,
            }
            state.apply(event)
            made.append(event)
        return made

    with (
        small_disk(tmp_path / "disk", "4m") as disk,
        DuckDBStore(disk / "s.duckdb") as store,
    ):
        store.create_execution(state.to_dict())
        store.subscribe(lambda batch: seqs.extend(e["seq"] for e in batch))
        store.append_events(events(10))
        store.flush()
        # A checkpoint after little WAL, so it comes while the disk is full:
        # DuckDB then invalidates the database until it is opened again.
        with duckdb.connect(str(disk / "s.duckdb")) as same_database:
            same_database.execute("SET checkpoint_threshold = '16kB'")
        junk = fill(disk)
        os.truncate(junk, junk.stat().st_size - 256 * 1024)
        with caplog.at_level(logging.WARNING, "dagstudio_jupyter.store"):
            with pytest.raises(StoreError) as raised:
                for _ in range(200):
                    store.append_events(events(10))
                    store.flush()
            failure = store.failure
            junk.unlink()
            store.flush()
            stored = store.events_since(state.id)

        assert store.failure is None
    assert "the disk is full" in str(raised.value)
    assert failure is not None and str(disk / "s.duckdb") in failure
    assert "opened again after a fatal error" in caplog.text
    assert [e["seq"] for e in stored] == list(range(1, state.last_seq + 1))
    assert seqs == list(range(1, state.last_seq + 1))


# Phases that misbehave: one hangs, one eats memory; the others must not mind.


def test_faults_hung_and_memory_hungry_phases_are_stopped_others_complete(
    dagstudio_scene: Scene, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hung.pid"
    hog = f"import sys; sys.stdout.write('allocating'); b = bytearray({512 << 20})"
    phases = [
        {
            "id": "hung",
            "kind": "shell",
            "command": f'echo $$ > "{pid_file}"; exec sleep 600',
            "timeout_s": 1,
        },
        {
            "id": "hog",
            "kind": "shell",
            "command": [sys.executable, "-c", hog],
            "memory_limit_mb": 128,
        },
        {"id": "steady", "kind": "shell", "command": "sleep 0.3; echo steady"},
        {
            "id": "compute",
            "kind": "python",
            "ref": "faultjobs:step",
            "params": {"pause": 0.3},
        },
        {"id": "after", "kind": "noop", "after": ["steady", "compute"]},
        {"id": "never", "kind": "noop", "after": ["hung", "hog"]},
    ]
    workflow = {"format": FORMAT, "id": "misbehaving", "phases": phases}
    server = dagstudio_scene.start()
    with killed_at_exit(server):
        body = {"workflow": workflow, "options": {"max_parallel": 4}}
        status, execution = server.api("POST", f"{API}/executions", body)
        assert status == 201, execution
        done = _wait_finished(server, [execution["id"]], 60)[execution["id"]]
        later = _submit(server, "later")
        after = _wait_finished(server, [later], 30)[later]
        alive = server.process.poll() is None
        metrics = server.api("GET", "metrics")[1]

    by_id = {phase["id"]: phase for phase in done["phases"]}
    assert done["status"] == "failed"
    assert by_id["hung"]["status"] == "failed"
    assert by_id["hung"]["error"] == "timed out after 1 s"
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists()
    assert by_id["hog"]["status"] == "failed"
    assert "MemoryError" in by_id["hog"]["error"]
    assert "memory limit is 128 MiB" in by_id["hog"]["error"]
    assert [by_id[pid]["status"] for pid in ("steady", "compute", "after")] == [
        "completed"
    ] * 3
    assert by_id["never"]["status"] == "skipped"
    assert alive and after["status"] == "completed"
    commits = _sample(metrics, "dagstudio_store_commit_seconds_count")
    assert commits >= 2  # at least a group of each execution


def test_faults_server_stops_on_sigterm_despite_a_python_phase_stuck_in_its_thread(
    dagstudio_scene: Scene,
) -> None:
    # Python cannot stop the thread of a timed-out phase; it must not keep a
    # stopped server alive until the function returns (here ten minutes).
    phases = [
        {
            "id": "stuck",
            "kind": "python",
            "ref": "faultjobs:step",
            "params": {"pause": 600},
            "timeout_s": 1,
        }
    ]
    workflow = {"format": FORMAT, "id": "stuck-thread", "phases": phases}
    server = dagstudio_scene.start()
    with killed_at_exit(server):
        status, execution = server.api(
            "POST", f"{API}/executions", {"workflow": workflow}
        )
        assert status == 201, execution
        done = _wait_finished(server, [execution["id"]], 60)[execution["id"]]
        # SIGKILLed (and the test failed) past the timeout.
        server.stop(timeout=20)

    assert done["phases"][0]["error"] == "timed out after 1 s"
    restarted = dagstudio_scene.start(like=server)
    with killed_at_exit(restarted):
        again = _execution(restarted, execution["id"])
    assert again["status"] == "failed"
    assert again["phases"][0]["error"] == "timed out after 1 s"


def _sample(metrics: str, name: str) -> float:
    """One sample of Prometheus' text format."""
    for line in metrics.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no sample {name} in:\n{metrics}")


@pytest.mark.parametrize("kind", ["python", "notebook", "noop"])
def test_faults_memory_limit_refused_where_it_cannot_apply(kind: str) -> None:
    phase = {"id": "p", "kind": kind, "memory_limit_mb": 100}
    phase |= {"python": {"ref": "faultjobs:step"}, "notebook": {"path": "n.ipynb"}}.get(
        kind, {}
    )

    with pytest.raises(InvalidWorkflowError) as raised:
        Workflow.from_dict({"id": "w", "phases": [phase]})

    assert "memory_limit_mb applies to shell and script phases only" in str(
        raised.value
    )


@pytest.mark.parametrize("limit", [0, -5, 1.5, True, "64", 2**40])
def test_faults_memory_limit_must_be_a_sane_whole_number(limit: Any) -> None:
    phase = {"id": "p", "kind": "shell", "command": "true", "memory_limit_mb": limit}

    with pytest.raises(InvalidWorkflowError, match="memory_limit_mb must be"):
        Workflow.from_dict({"id": "w", "phases": [phase]})


def test_faults_memory_limit_round_trips_in_the_document() -> None:
    phase = {"id": "p", "kind": "script", "path": "job.sh", "memory_limit_mb": 64}

    workflow = Workflow.from_dict({"id": "w", "phases": [phase]})

    assert workflow["p"].memory_limit_mb == 64
    assert workflow.to_dict()["phases"][0]["memory_limit_mb"] == 64


def test_faults_server_with_a_refused_secret_says_why_and_still_stops(
    tmp_path: Path,
) -> None:
    # A weak JWT secret stops the extension from loading; Jupyter carries on
    # without it, and a SIGTERM must still end the process.
    home = tmp_path / "home"
    token = secrets.token_urlsafe(32)
    record_secret(token, "Jupyter token")
    env = isolated_env(home, token)
    env["JWT_SECRET_KEY"] = "short"
    _write_config(Path(env["JUPYTER_CONFIG_DIR"]), tmp_path / "s.duckdb", {})
    port = free_port()
    log_path = home / "server.log"
    record_log(log_path)
    root = tmp_path / "root"
    root.mkdir()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            server_command(port, root),
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(
            lambda: (
                "Jupyter Server" in log_path.read_text(errors="replace")
                and "is running at" in log_path.read_text(errors="replace")
            ),
            60,
            "the server to start",
        )
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log_path.read_text(errors="replace")
    assert "the JWT secret is 5 bytes" in text
    assert code is not None
    assert "stop_extension" not in text
