"""Load on a real server: the quickstart's shape, 100 runs at once, 200 subscribers.

Each execution has the quickstart's graph (load, split, scale, three models
trained in parallel, each evaluated, the best picked, a report), made of
light python phases from a module in the server's root: a short sleep and a
small JSON result, so the server's own work (scheduling, storing, fanning
out) is what is loaded. 100 executions are under way at all times (a new one
starts as one ends) while 200 live WebSocket connections follow them: 160
follow single executions (two per execution: the first from its start, the
second joining mid-run from `since` 0 or from where the first had got to)
and 40 follow the `"*"` overview. Afterwards every stream is compared with
`GET .../events`: gap-free from its start, ending with the final event,
nothing lost or repeated. The server's resident memory is sampled all along
and must stay under a generous bound; `/metrics` must count what ran.

The default (short) mode loads for about 12 s; `DAGSTUDIO_FULL_LOAD=1` loads
for 60 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ._server import DagServer, running_server

FULL = os.environ.get("DAGSTUDIO_FULL_LOAD") == "1"
LOAD_S = 60.0 if FULL else 12.0
CONCURRENT = 100
FOLLOWER_CONNECTIONS = 160
OVERVIEW_CONNECTIONS = 40
SUBMITTERS = 4
# A bound, not a measurement to beat: far above what the server needs, far
# below what a leak of events, results or sessions over the round reaches.
MEMORY_BOUND_BYTES = int(1.5 * 2**30)
# Guards against a hang; generous so a slow machine only takes longer.
WAIT_S = 240.0
API = "dagstudio/api"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
MODELS = ("logreg", "forest", "svm")
MODULE = "load_phases"
PHASES_SOURCE = '''\
"""Light stand-ins for the quickstart's phases: a short sleep, a small result."""

import time


def load(work_s):
    time.sleep(work_s)
    return {"X": [[(i * 7 + j) % 10 / 10 for j in range(4)] for i in range(40)],
            "y": [i % 2 for i in range(40)]}


def split(load, work_s):
    time.sleep(work_s)
    return {"train": load["X"][:30], "test": load["X"][30:], "y": load["y"][30:]}


def scale(split, work_s):
    time.sleep(work_s)
    top = max(max(row) for row in split["train"]) or 1
    return {"test": [[v / top for v in row] for row in split["test"]],
            "y": split["y"]}


def train(scale, model, work_s):
    time.sleep(work_s)
    shift = {"logreg": 0.3, "forest": 0.5, "svm": 0.7}[model]
    return [int(sum(row) > shift * len(row)) for row in scale["test"]]


def evaluate(scale, upstream, model, work_s):
    time.sleep(work_s)
    predicted = upstream["train_" + model]
    right = sum(p == t for p, t in zip(predicted, scale["y"]))
    return {"accuracy": right / len(predicted), "f1": right / (len(predicted) + 1)}


def pick_best(upstream, work_s):
    time.sleep(work_s)
    scores = {pid.removeprefix("evaluate_"): s for pid, s in upstream.items()}
    return {"best": max(scores, key=lambda m: scores[m]["f1"]), "scores": scores}


def report(pick_best, work_s):
    time.sleep(work_s)
    return "best: " + pick_best["best"]
'''


def quickstart_workflow(number: int) -> dict[str, Any]:
    """The quickstart's graph with light phases; sleeps vary by execution."""
    rng = random.Random(number)

    def phase(pid: str, func: str, after: list[str], **params: Any) -> dict[str, Any]:
        params["work_s"] = round(rng.uniform(0.05, 0.25), 3)
        ref = f"{MODULE}:{func}"
        return {
            "id": pid,
            "kind": "python",
            "ref": ref,
            "after": after,
            "params": params,
        }

    phases = [
        phase("load", "load", []),
        phase("split", "split", ["load"]),
        phase("scale", "scale", ["split"]),
    ]
    for model in MODELS:
        phases.append(phase(f"train_{model}", "train", ["scale"], model=model))
        after = ["scale", f"train_{model}"]
        phases.append(phase(f"evaluate_{model}", "evaluate", after, model=model))
    phases.append(phase("pick_best", "pick_best", [f"evaluate_{m}" for m in MODELS]))
    phases.append(phase("report", "report", ["pick_best"]))
    return {
        "format": "dagstudio.workflow/1",
        "id": "quickstart-load",
        "name": f"quickstart load {number}",
        "phases": phases,
    }


def is_final(event: dict[str, Any]) -> bool:
    return event.get("phase_id") is None and event["status"] in TERMINAL


class Rest:
    """Asynchronous REST calls to the server with its Jupyter token."""

    def __init__(self, server: DagServer) -> None:
        self.server = server
        self.client = AsyncHTTPClient(force_instance=True, max_clients=16)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body) if body is not None else None
        if data is None and method == "POST":
            data = ""
        request = HTTPRequest(
            self.server.url + path,
            method=method,
            body=data,
            headers={"Authorization": f"token {self.server.token}"},
            request_timeout=60,
        )
        try:
            response = await self.client.fetch(request)
        except HTTPClientError as exc:
            assert exc.response is not None, exc
            response = exc.response
        text = response.body.decode() if response.body else ""
        content = response.headers.get("Content-Type", "")
        return response.code, json.loads(text) if "json" in content else text


@dataclass
class Stream:
    """What one connection received of one execution it subscribed to."""

    since: int
    done: asyncio.Future[None]
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshot_seq: int | None = None
    # Called once the stream holds this many events (to start a mid-run join).
    at_count: int = 0
    on_count: Callable[[int], None] | None = None

    @property
    def start(self) -> int:
        """The first seq this stream must hold."""
        base = self.since if self.snapshot_seq is None else self.snapshot_seq
        return base + 1


class LiveClient:
    """One live connection: its streams, or the overview it was sent."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.streams: dict[str, Stream] = {}
        self.overview: dict[str, list[dict[str, Any]]] = {}
        self.on_final: Callable[[str], None] | None = None
        self.problems: list[str] = []
        self.barrier: asyncio.Future[None] | None = None
        self.sending: set[asyncio.Future[None]] = set()
        self.closed: str | None = None

    async def read(self) -> None:
        """Sort every frame until the connection closes."""
        code = None
        try:
            async for message in self.ws:
                self.handle(json.loads(message))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            self.problems.append(f"{self.name}: closed with {code}")
        finally:
            self.closed = f"{self.name} closed ({code})"
            for stream in self.streams.values():
                if not stream.done.done():
                    stream.done.set_exception(AssertionError(self.closed))

    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "events":
            self._events(frame["execution_id"], frame["events"])
        elif kind == "snapshot":
            stream = self.streams.get(frame["execution"]["id"])
            if stream is None or stream.events:
                self.problems.append(f"{self.name}: snapshot out of place: {frame}")
            else:
                stream.snapshot_seq = frame["execution"]["last_seq"]
        elif kind == "error" and self.barrier is not None:
            self.barrier.set_result(None)
            self.barrier = None
        elif kind != "ping":
            self.problems.append(f"{self.name}: unexpected frame {frame}")

    def _events(self, execution_id: str, events: list[dict[str, Any]]) -> None:
        stream = self.streams.get(execution_id)
        if stream is None and self.on_final is None:
            self.problems.append(f"{self.name}: events it did not ask for: {events}")
            return
        if stream is None:
            self.overview.setdefault(execution_id, []).extend(events)
            if any(map(is_final, events)):
                self.on_final(execution_id)
            return
        if stream.done.done():
            self.problems.append(f"{self.name}: events after the final one: {events}")
            return
        before = len(stream.events)
        stream.events.extend(events)
        if stream.on_count and before < stream.at_count <= len(stream.events):
            stream.on_count(stream.events[stream.at_count - 1]["seq"])
        if is_final(stream.events[-1]):
            stream.done.set_result(None)
            self.spawn_send({"type": "unsubscribe"} | _id(execution_id))

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except ConnectionClosed:
            self.problems.append(f"{self.name}: closed before sending {message}")

    def follow(self, execution_id: str, since: int, **hooks: Any) -> Stream:
        """Subscribe to one execution from `since`; the stream is kept at once."""
        done = asyncio.get_running_loop().create_future()
        stream = self.streams[execution_id] = Stream(since, done, **hooks)
        if self.closed is not None:
            done.set_exception(AssertionError(self.closed))
        message = {"type": "subscribe", "since": since} | _id(execution_id)
        self.spawn_send(message)
        return stream

    def spawn_send(self, message: dict[str, Any]) -> None:
        """Send without waiting; sends go out in the order asked."""
        task = asyncio.ensure_future(self.send(message))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def sync(self) -> None:
        """Wait until the server has handled every message sent before."""
        self.barrier = asyncio.get_running_loop().create_future()
        await self.send({"type": "barrier"})
        await asyncio.wait_for(self.barrier, 30)


def _id(execution_id: str) -> dict[str, str]:
    return {"execution_id": execution_id}


class MemorySampler:
    """Samples a process's resident memory in a thread, every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.first = self.peak = self.last = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.last = self.process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, self.last)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Round:
    """What a load round started and what its clients received."""

    ids: list[str]
    followers: list[LiveClient]
    overviews: list[LiveClient]
    streams: list[tuple[LiveClient, str]]
    seconds: float


async def open_client(server: DagServer, token: str, name: str) -> LiveClient:
    ws = await connect(
        server.live_url,
        subprotocols=["dagstudio.v1", f"bearer.{token}"],
        proxy=None,
        open_timeout=60,
        max_size=2**24,
    )
    ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert ready["type"] == "ready", ready
    return LiveClient(ws, name)


async def load_round(server: DagServer, rest: Rest, seconds: float) -> Round:
    """Keep CONCURRENT executions going for `seconds`, followed live throughout."""
    code, body = await rest.call("POST", f"{API}/token")
    assert code == 200, body
    token = body["token"]
    followers = [
        await open_client(server, token, f"follower-{n}")
        for n in range(FOLLOWER_CONNECTIONS)
    ]
    overviews = [
        await open_client(server, token, f"overview-{n}")
        for n in range(OVERVIEW_CONNECTIONS)
    ]
    clients = followers + overviews
    readers = [asyncio.ensure_future(c.read()) for c in clients]
    try:
        return await _drive(rest, seconds, followers, overviews)
    finally:
        for client in clients:
            await client.ws.close()
        await asyncio.gather(*readers)
        for client in clients:
            await asyncio.gather(*client.sending)


async def _drive(
    rest: Rest, seconds: float, followers: list[LiveClient], overviews: list[LiveClient]
) -> Round:
    loop = asyncio.get_running_loop()
    finished: dict[str, asyncio.Future[None]] = {}
    # The final event may come before the answer to the POST that started it.
    finals: set[str] = set()

    def on_final(execution_id: str) -> None:
        finals.add(execution_id)
        future = finished.get(execution_id)
        if future is not None and not future.done():
            future.set_result(None)

    for client in overviews:
        await client.send({"type": "subscribe", "execution_id": "*"})
        await client.sync()  # the overview is on before the first execution starts
        client.on_final = on_final
    slots = asyncio.Semaphore(CONCURRENT)
    ids: list[str] = []
    firsts: list[tuple[LiveClient, str]] = []
    streams: list[tuple[LiveClient, str]] = []
    numbers = itertools.count()
    rng = random.Random(7)
    started = loop.time()
    deadline = started + seconds

    async def submit_one() -> None:
        number = next(numbers)
        body = {"workflow": quickstart_workflow(number)}
        code, execution = await rest.call("POST", f"{API}/executions", body)
        assert code == 201, execution
        execution_id = execution["id"]
        future = finished[execution_id] = loop.create_future()
        if execution_id in finals:
            future.set_result(None)
        ids.append(execution_id)
        future.add_done_callback(lambda _: slots.release())
        first = followers[(2 * number) % FOLLOWER_CONNECTIONS]
        second = followers[(2 * number + 1) % FOLLOWER_CONNECTIONS]
        from_start = rng.random() < 0.5

        def join(seq: int) -> None:
            since = 0 if from_start else seq
            streams.append((second, execution_id))
            second.follow(execution_id, since)

        streams.append((first, execution_id))
        firsts.append((first, execution_id))
        first.follow(execution_id, 0, at_count=rng.randint(1, 20), on_count=join)

    async def submitter() -> None:
        while loop.time() < deadline:
            await asyncio.wait_for(slots.acquire(), WAIT_S)
            if loop.time() >= deadline:
                slots.release()
                return
            await submit_one()

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    await _wait_all(
        rest, {(None, eid): f for eid, f in finished.items()}, "the overview's end"
    )
    elapsed = loop.time() - started
    # Once the first followers are done, every second one has joined.
    for group in (firsts, streams):
        done = {(c, eid): c.streams[eid].done for c, eid in group}
        await _wait_all(rest, done, "a stream's end")
    for client in followers + overviews:
        await client.sync()  # nothing more is on its way
    return Round(ids, followers, overviews, streams, elapsed)


async def _wait_all(
    rest: Rest,
    futures: dict[tuple[LiveClient | None, str], asyncio.Future[None]],
    what: str,
) -> None:
    """Wait for every future; on a hang, say what was received and stored."""
    if not futures:
        return
    await asyncio.wait(futures.values(), timeout=WAIT_S)
    hung = [key for key, future in futures.items() if not future.done()]
    details = []
    for client, execution_id in hung[:5]:
        code, execution = await rest.call("GET", f"{API}/executions/{execution_id}")
        stored = (code, execution.get("status"), execution.get("last_seq"))
        stream = client.streams[execution_id] if client is not None else None
        received = [e["seq"] for e in stream.events] if stream else None
        details.append(
            f"{execution_id} on {client.name if client else 'overview'}: stored"
            f" {stored}, received {received}"
        )
    assert not hung, f"{len(hung)} of {len(futures)} waits for {what} hung: {details}"
    for future in futures.values():
        future.result()


async def stored(
    rest: Rest, ids: list[str]
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each execution and its events, as the REST API gives them."""
    limit = asyncio.Semaphore(8)

    async def one(execution_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with limit:
            code, execution = await rest.call("GET", f"{API}/executions/{execution_id}")
            assert code == 200, execution
            path = f"{API}/executions/{execution_id}/events"
            code, body = await rest.call("GET", path)
            assert code == 200, body
            return execution, body["events"]

    answers = await asyncio.gather(*(one(eid) for eid in ids))
    return dict(zip(ids, answers, strict=True))


def brief(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["seq"], e.get("phase_id"), e["status"], e.get("attempt")) for e in events
    ]


def read_metrics(text: str) -> dict[tuple[str, str], float]:
    """`(sample name, status label)`: value, for DAG Studio's samples."""
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("dagstudio_") and "le" not in sample.labels:
                key = (sample.name, sample.labels.get("status", ""))
                values[key] = sample.value
    return values


def report_line(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """Show a figure in the test output, captured or not, and in JUnit XML."""
    request.node.user_properties.append(("load", text))
    with capsys.disabled():
        print(f"\n[load] {text}")


@pytest.fixture
def dagstudio_load_server(tmp_path: Path) -> Iterator[DagServer]:
    """A real server whose root holds the light phases' module."""
    root = tmp_path / "root"
    root.mkdir()
    (root / f"{MODULE}.py").write_text(PHASES_SOURCE, encoding="utf-8")
    options: dict[str, Any] = {
        "root_dir": root,
        "store_path": tmp_path / "store" / "executions.duckdb",
    }
    with running_server(tmp_path / "home", **options) as server:
        yield server


def test_load_quickstart_runs_with_live_subscribers_lose_no_event(
    dagstudio_load_server: DagServer,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = dagstudio_load_server
    cpu_before = psutil.Process(server.pid).cpu_times()

    async def scenario() -> tuple[Round, dict[str, Any], str]:
        rest = Rest(server)
        try:
            result = await load_round(server, rest, LOAD_S)
            executions = await stored(rest, result.ids)
            code, metrics = await rest.call("GET", "metrics")
            assert code == 200, metrics
            return result, executions, metrics
        finally:
            rest.client.close()

    with MemorySampler(server.pid) as memory:
        result, executions, metrics = asyncio.run(scenario())
    cpu = psutil.Process(server.pid).cpu_times()

    total_events = sum(len(events) for _, events in executions.values())
    report_line(
        request,
        capsys,
        f"{len(result.ids)} quickstart executions ({total_events} events) in "
        f"{result.seconds:.1f} s, {CONCURRENT} at once, "
        f"{FOLLOWER_CONNECTIONS + OVERVIEW_CONNECTIONS} live connections; "
        f"server CPU {cpu.user + cpu.system - cpu_before.user - cpu_before.system:.1f}"
        f" s; server RSS peak {memory.peak / 2**20:.0f} MiB (at start "
        f"{memory.first / 2**20:.0f} MiB, at end {memory.last / 2**20:.0f} MiB)",
    )
    problems = [p for c in result.followers + result.overviews for p in c.problems]
    assert not problems, problems[:20]
    for execution, events in executions.values():
        assert execution["status"] == "completed", execution
        assert [p["status"] for p in execution["phases"]] == ["completed"] * 11
        assert [e["seq"] for e in events] == list(range(1, execution["last_seq"] + 1))
        assert is_final(events[-1]), events[-1]
    assert len(result.streams) == 2 * len(result.ids)
    for client, execution_id in result.streams:
        stream = client.streams[execution_id]
        events = executions[execution_id][1]
        seqs = [e["seq"] for e in stream.events]
        assert seqs == list(range(stream.start, events[-1]["seq"] + 1)), (
            client.name,
            execution_id,
            stream.since,
            seqs,
        )
        assert brief(stream.events) == brief(events[stream.start - 1 :])
    for client in result.overviews:
        assert set(client.overview) == set(result.ids), client.name
        for execution_id, received in client.overview.items():
            expected = [e for e in executions[execution_id][1] if not e.get("phase_id")]
            assert brief(received) == brief(expected), (client.name, execution_id)
    assert memory.peak < MEMORY_BOUND_BYTES

    values = read_metrics(metrics)
    phase_events = [e for _, events in executions.values() for e in events]
    attempts = sum(
        1 for e in phase_events if e.get("phase_id") and e["status"] == "running"
    )
    completed_attempts = sum(
        1 for e in phase_events if e.get("phase_id") and e["status"] == "completed"
    )
    assert values[("dagstudio_executions", "completed")] == len(result.ids)
    for status in ("pending", "running", "failed", "cancelled", "interrupted"):
        assert values[("dagstudio_executions", status)] == 0, status
    counts = {
        status: value
        for (name, status), value in values.items()
        if name == "dagstudio_phase_duration_seconds_count"
    }
    assert sum(counts.values()) == attempts
    assert counts["completed"] == completed_attempts == attempts
    assert not any(execution_id in metrics for execution_id in result.ids)


def _shell(pid: str, command: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "kind": "shell", "command": command, **extra}


def _workflow(name: str, *phases: dict[str, Any]) -> dict[str, Any]:
    return {"format": "dagstudio.workflow/1", "id": name, "phases": list(phases)}


class Lifecycle:
    """REST steps on a real server, for the metrics test."""

    def __init__(self, server: DagServer) -> None:
        self.server = server

    def submit(self, workflow: dict[str, Any], **options: Any) -> str:
        body = {"workflow": workflow, "options": options}
        code, answer = self.server.api("POST", f"{API}/executions", body)
        assert code == 201, answer
        return str(answer["id"])

    def get(self, execution_id: str) -> dict[str, Any]:
        code, answer = self.server.api("GET", f"{API}/executions/{execution_id}")
        assert code == 200, answer
        return dict(answer)

    def wait(self, execution_id: str, done: Callable[[dict[str, Any]], bool]) -> None:
        """Poll the execution until `done` holds (a hang guard ends the wait)."""
        deadline = time.monotonic() + 60
        while not done(execution := self.get(execution_id)):
            assert time.monotonic() < deadline, execution
            time.sleep(0.05)

    def wait_finished(self, execution_id: str) -> None:
        self.wait(execution_id, lambda e: e["status"] in TERMINAL)

    def wait_phase_running(self, execution_id: str) -> None:
        self.wait(execution_id, lambda e: e["phases"][0]["status"] == "running")

    def metrics(self) -> tuple[dict[str, float], dict[str, float]]:
        """The executions gauge and the attempt counts, by status."""
        code, text = self.server.api("GET", "metrics")
        assert code == 200, text
        values = read_metrics(text)
        gauge = {s: v for (n, s), v in values.items() if n == "dagstudio_executions"}
        counts = {
            s: v
            for (n, s), v in values.items()
            if n == "dagstudio_phase_duration_seconds_count"
        }
        return gauge, counts


def _anonymous_metrics(server: DagServer) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(server.url + "metrics", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_follow_executions_through_retry_cancel_delete_and_restart(
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {
        "root_dir": tmp_path / "root",
        "store_path": tmp_path / "store" / "executions.duckdb",
    }
    empty = {status: 0.0 for status in ("pending", "running", "interrupted")}
    with running_server(tmp_path / "home", **options) as server:
        steps = Lifecycle(server)
        ok = steps.submit(_workflow("ok", _shell("a", "true"), _shell("b", "true")))
        flaky = _shell("f", "exit 3", retries=1)
        failed = steps.submit(_workflow("failing", flaky), retry_backoff_s=0)
        slow = steps.submit(_workflow("slow", _shell("s", "sleep 60")))
        steps.wait_phase_running(slow)
        code, answer = server.api("POST", f"{API}/executions/{slow}/cancel")
        assert code == 202, answer
        for execution_id in (ok, failed, slow):
            steps.wait_finished(execution_id)

        gauge, counts = steps.metrics()

        assert gauge == {"completed": 1, "failed": 1, "cancelled": 1} | empty
        assert counts == {"completed": 2, "failed": 2, "cancelled": 1}
        status, text = _anonymous_metrics(server)
        assert status == 403 and "dagstudio_" not in text

        code, answer = server.api("POST", f"{API}/executions/{failed}/retry")
        assert code == 202, answer
        steps.wait_finished(failed)
        code, answer = server.api("DELETE", f"{API}/executions/{ok}")
        assert code == 204, answer
        resumed = steps.submit(_workflow("resumed", _shell("r", "sleep 1")))
        steps.wait_phase_running(resumed)

        gauge, counts = steps.metrics()

        expected = {"completed": 0, "failed": 1, "cancelled": 1} | empty
        assert gauge == expected | {"running": 1}
        assert counts == {"completed": 2, "failed": 4, "cancelled": 1}

    # A stop leaves `resumed` running in the store; the next start counts it
    # there, and its recovery moves it on.
    with running_server(tmp_path / "home", **options) as server:
        steps = Lifecycle(server)
        steps.wait_finished(resumed)

        gauge, counts = steps.metrics()

        assert steps.get(resumed)["phases"][0]["attempt"] == 2
        assert gauge == {"completed": 1, "failed": 1, "cancelled": 1} | empty
        assert counts == {"completed": 1}
