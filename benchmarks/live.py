"""Live latency: from a phase's state change to its receipt by WebSocket clients.

Ours: a real `jupyter server` with DAG Studio runs one workflow whose phases
change state at about 1,000 events a second: a `gate` phase, then
`--chains` (10) parallel chains of python phases that each
`await asyncio.sleep` on the server's loop until a fixed offset from the
gate's opening (a module written into the server's root), the chains
staggered so the events spread over time; each phase makes three events.
N WebSocket clients (`websockets`, all in this one asyncio process)
authenticate with a JWT from `POST dagstudio/api/token` and subscribe to
the execution while the gate holds it; then the gate opens. Each event
carries `at`, stamped by the runner when it emits the event (before the
store commits it and the live channel coalesces it into one `events` frame
per 50 ms); latency = wall-clock time the client got the frame - `at`,
same machine clock. Only events after the subscription's ack count.

Peer: the naive design, a minimal tornado WebSocket server in a
subprocess that writes each event as its own frame to every client. A
producer thread makes the events at the rate our run achieved, as many,
of the same shape and size (seq, `at` stamped when the event is made,
phase id, status, ...), and hands each to the server's loop; the same
clients measure it the same way.

Per subscriber count, two lines: p50 and p99 in ms; ratio = ours / peer, so
below 1 means our live channel delivers sooner. An event a client has not
got by the drain deadline counts as infinitely late. The header gives the
achieved event rates; stderr gives each run's CPU time.

Full: 1, 50 and 200 subscribers, ~10 s of events each. Quick (`--quick`):
1 and 50 subscribers, ~2 s each.

    .venv/bin/python benchmarks/live.py
    .venv/bin/python benchmarks/live.py --quick
    .venv/bin/python benchmarks/live.py --subscribers 1,20 --seconds 5
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import percentile, report
from _server import API, BenchServer, free_port, start_server

FORMAT = "dagstudio.workflow/1"
PACE_MODULE = "dagstudio_bench_pace"
PACE_SOURCE = '''"""Phases of the live benchmark; each waits on the server's loop."""

import asyncio
import os
import time

# When each gate opened (monotonic clock), by the gate's path.
OPENED = {}


async def gate(path):
    while not os.path.exists(path):
        await asyncio.sleep(0.005)
    OPENED[path] = time.monotonic()


async def pace(gate_path, due):
    # Due at a fixed offset from the gate's opening, so the delays of the
    # server's loop do not add up and slow the rate down along a chain.
    await asyncio.sleep(max(0.0, OPENED[gate_path] + due - time.monotonic()))
'''
TERMINAL = frozenset({"completed", "failed", "cancelled"})
FULL_SUBSCRIBERS = (1, 50, 200)
QUICK_SUBSCRIBERS = (1, 50)
PEER_NAME = "tornado frame per event"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_workflow(
    chains: int, per_chain: int, delay_s: float, gate_path: Path
) -> dict[str, Any]:
    """A gate, then `chains` chains of `per_chain` paced phases after it.

    Step s of chain k ends `(s + (k + 1) / chains) * delay_s` after the gate
    opens, so the chains' phase changes interleave instead of landing
    together, and each phase makes three events (queued, running, completed).
    """
    phases: list[dict[str, Any]] = [
        {
            "id": "gate",
            "kind": "python",
            "ref": f"{PACE_MODULE}:gate",
            "params": {"path": str(gate_path)},
        }
    ]
    for chain in range(chains):
        previous = "gate"
        for step in range(per_chain):
            due = delay_s * (step + (chain + 1) / chains)
            phase_id = phase_name(chain, step)
            phases.append(
                {
                    "id": phase_id,
                    "kind": "python",
                    "ref": f"{PACE_MODULE}:pace",
                    "params": {"gate_path": str(gate_path), "due": round(due, 6)},
                    "after": [previous],
                }
            )
            previous = phase_id
    return {"format": FORMAT, "id": "live-bench", "phases": phases}


def phase_name(chain: int, step: int) -> str:
    return f"c{chain:02d}-p{step:04d}"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; NaN where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stamp_seconds(at: str, cache: dict[str, float]) -> float:
    """Seconds since the epoch of an event's `at` (ISO 8601, UTC, `Z`)."""
    value = cache.get(at)
    if value is None:
        value = cache[at] = datetime.fromisoformat(at).timestamp()
    return value


@dataclass
class Run:
    """What the clients of one run received."""

    subscribers: int
    first_seq: int  # live events are those after this seq
    final_seq: int  # the execution's terminal event
    latencies_ms: array.array[float] = field(default_factory=lambda: array.array("d"))
    stamps: dict[str, float] = field(default_factory=dict)
    received: list[int] = field(default_factory=list)
    first_at: float = math.inf
    last_at: float = -math.inf

    @property
    def events(self) -> int:
        return self.final_seq - self.first_seq

    @property
    def rate(self) -> float:
        span = self.last_at - self.first_at
        return self.events / span if span > 0 else math.nan

    @property
    def lost(self) -> int:
        return self.events * self.subscribers - sum(self.received)

    def quantile(self, q: float) -> float:
        """The q-th percentile, events never received counted as infinitely late."""
        if self.lost <= 0:
            return percentile(self.latencies_ms, q)
        values = sorted(self.latencies_ms) + [math.inf] * self.lost
        # The same interpolation as `percentile`, done here for the infinities.
        rank = (len(values) - 1) * q / 100
        low = math.floor(rank)
        high, part = min(low + 1, len(values) - 1), rank - low
        if values[high] == math.inf:
            return values[low] if part == 0 else math.inf
        return values[low] + (values[high] - values[low]) * part


class Subscriber:
    """One WebSocket client: records the latency of every live event it gets."""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.ws: Any = None
        run.received.append(0)

    async def open(
        self, url: str, *, subprotocols: list[str] | None = None, timeout: float = 60
    ) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            compression=None,
            open_timeout=timeout,
            max_size=None,
            ping_interval=None,
        )

    async def subscribe(self, execution_id: str, seq: int) -> None:
        """Authenticated already; follow `execution_id` from `seq` (its ack)."""
        ready = await self.frame()
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected ready, got {ready}")
        request = {"type": "subscribe", "execution_id": execution_id, "since": seq - 1}
        await self.ws.send(json.dumps(request))
        while True:
            message = await self.frame()
            if message.get("type") != "events":
                raise RuntimeError(f"expected the backlog, got {message}")
            if any(event["seq"] >= seq for event in message["events"]):
                return

    async def frame(self) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if message.get("type") != "ping":
                return dict(message)

    async def follow(self) -> None:
        """Read `events` frames until the execution's terminal event."""
        run, stamps, sink = self.run, self.run.stamps, self.run.latencies_ms
        first_seq, count = run.first_seq, 0
        async for raw in self.ws:
            received_at = time.time()
            message = json.loads(raw)
            if message.get("type") != "events":
                continue
            done = False
            for event in message["events"]:
                if event["seq"] <= first_seq:
                    continue
                at = stamp_seconds(event["at"], stamps)
                sink.append((received_at - at) * 1000)
                count += 1
                if self.index == 0:
                    run.first_at = min(run.first_at, at)
                    run.last_at = max(run.last_at, at)
                if event.get("phase_id") is None and event["status"] in TERMINAL:
                    if (event["status"], event["seq"]) != ("completed", run.final_seq):
                        raise RuntimeError(f"unexpected end of the execution: {event}")
                    done = True
            run.received[self.index] = count
            if done:
                return
        close = self.ws.close_code
        log(f"  client {self.index} closed before the end (code {close})")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def open_all(
    subscribers: list[Subscriber], url: str, subprotocols: list[str] | None
) -> None:
    # A few at a time: a burst of hundreds of handshakes is not what is measured.
    for start in range(0, len(subscribers), 20):
        batch = subscribers[start : start + 20]
        await asyncio.gather(*(s.open(url, subprotocols=subprotocols) for s in batch))


async def follow_all(subscribers: list[Subscriber], deadline_s: float) -> None:
    tasks = [asyncio.ensure_future(s.follow()) for s in subscribers]
    _, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    if pending:
        log(f"  {len(pending)} client(s) still behind after {deadline_s:.0f} s")


async def close_all(subscribers: list[Subscriber]) -> None:
    await asyncio.gather(*(s.close() for s in subscribers), return_exceptions=True)


# -- ours --------------------------------------------------------------------


async def measure_ours(
    server: BenchServer, subscribers: int, args: argparse.Namespace, number: int
) -> Run:
    per_chain = max(1, round(args.seconds * args.rate / (3 * args.chains)))
    delay_s = 3 * args.chains / args.rate
    gate_path = server.root_dir / f"gate-{number}"
    workflow = build_workflow(args.chains, per_chain, delay_s, gate_path)
    body = {"workflow": workflow, "options": {"max_parallel": args.chains}}
    status, execution = await asyncio.to_thread(
        server.api, "POST", f"{API}/executions", body
    )
    if status != 201:
        raise RuntimeError(f"POST executions answered {status}: {execution}")
    execution_id = execution["id"]
    seq = await asyncio.to_thread(wait_gate_running, server, execution_id)
    token = await asyncio.to_thread(server.live_token)
    # After the gate's running: its completed, 3 per paced phase, the end.
    final_seq = seq + 2 + 3 * args.chains * per_chain
    run = Run(subscribers, first_seq=seq, final_seq=final_seq)
    clients = [Subscriber(run, index) for index in range(subscribers)]
    try:
        await open_all(clients, server.live_url, ["dagstudio.v1", f"bearer.{token}"])
        await asyncio.gather(*(c.subscribe(execution_id, seq) for c in clients))
        gate_path.touch()
        await follow_all(clients, args.seconds * 3 + args.drain_s)
    finally:
        await close_all(clients)
    return run


def wait_gate_running(server: BenchServer, execution_id: str) -> int:
    """Wait until the gate phase runs; return the execution's last seq then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = server.api("GET", f"{API}/executions/{execution_id}")
        if status != 200:
            raise RuntimeError(f"GET execution answered {status}: {body}")
        gate = next(p for p in body["phases"] if p["id"] == "gate")
        if gate["status"] == "running":
            return int(body["last_seq"])
        if body["status"] in TERMINAL:
            raise RuntimeError(f"the execution ended early: {body['error']}")
        time.sleep(0.02)
    raise RuntimeError("the gate phase did not start within 60 s")


# -- peer --------------------------------------------------------------------


def serve_peer(port: int) -> None:
    """The peer server: every event goes out as its own frame to every client."""
    import tornado.web
    import tornado.websocket

    clients: set[tornado.websocket.WebSocketHandler] = set()

    class LiveSocket(tornado.websocket.WebSocketHandler):
        def open(self, *args: Any, **kwargs: Any) -> None:
            clients.add(self)

        def on_close(self) -> None:
            clients.discard(self)

    class RunHandler(tornado.web.RequestHandler):
        async def post(self) -> None:
            spec = json.loads(self.request.body)
            deadline = time.monotonic() + 30
            while len(clients) < spec["clients"] and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            threading.Thread(target=produce, args=(loop, spec), daemon=True).start()
            self.finish({"clients": len(clients)})

    class ReadyHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.finish({"ready": True})

    def produce(loop: asyncio.AbstractEventLoop, spec: dict[str, Any]) -> None:
        # Events come from elsewhere at their own pace, as a runner's would:
        # a busy sender delays their frames, not the events themselves.
        count, rate = spec["count"], spec["rate"]
        execution_id, first_seq = spec["execution_id"], spec["first_seq"]
        start = time.monotonic()
        for number in range(count):
            wait = start + number / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            seq = first_seq + 1 + number
            event = peer_event(execution_id, seq, number, count, spec["chains"])
            loop.call_soon_threadsafe(send, execution_id, event)

    def send(execution_id: str, event: dict[str, Any]) -> None:
        frame = json.dumps(
            {"type": "events", "execution_id": execution_id, "events": [event]},
            separators=(",", ":"),
        )
        for client in list(clients):
            try:
                client.write_message(frame)
            except tornado.websocket.WebSocketClosedError:
                clients.discard(client)

    async def main() -> None:
        app = tornado.web.Application(
            [("/live", LiveSocket), ("/run", RunHandler), ("/ready", ReadyHandler)]
        )
        app.listen(port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


STATUSES = ("queued", "running", "completed")


def peer_event(
    execution_id: str, seq: int, number: int, count: int, chains: int
) -> dict[str, Any]:
    """An event like ours: a phase's queued, running or completed, then the end."""
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if number == count - 1:
        phase_id, status, attempt = None, "completed", 0
    else:
        step, kind = divmod(number, 3)
        phase_id = phase_name(step % chains, step // chains)
        status, attempt = STATUSES[kind], 0 if kind == 0 else 1
    event: dict[str, Any] = {
        "seq": seq,
        "at": now,
        "execution_id": execution_id,
        "phase_id": phase_id,
        "status": status,
        "attempt": attempt,
        "error": None,
    }
    if status == "completed" and phase_id is not None:
        event["result"] = None
    return event


@dataclass
class PeerServer:
    port: int
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=60) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_peer(log_path: Path) -> PeerServer:
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--peer-server",
        str(port),
    ]
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    peer = PeerServer(port, process)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the peer server exited: {log_path.read_text()}")
        try:
            with opener.open(f"http://127.0.0.1:{port}/ready", timeout=2):
                return peer
        except OSError:
            time.sleep(0.05)
    peer.stop()
    raise RuntimeError("the peer server did not start within 30 s")


async def measure_peer(peer: PeerServer, ours: Run, args: argparse.Namespace) -> Run:
    run = Run(ours.subscribers, first_seq=ours.first_seq, final_seq=ours.final_seq)
    clients = [Subscriber(run, index) for index in range(ours.subscribers)]
    spec = {
        "count": ours.events,
        "rate": ours.rate if math.isfinite(ours.rate) else args.rate,
        "execution_id": "0" * 32,
        "first_seq": ours.first_seq,
        "clients": ours.subscribers,
        "chains": args.chains,
    }
    try:
        await open_all(clients, f"ws://127.0.0.1:{peer.port}/live", None)
        answer = await asyncio.to_thread(peer.post, "/run", spec)
        if answer["clients"] < ours.subscribers:
            raise RuntimeError(f"the peer sees {answer['clients']} client(s)")
        await follow_all(clients, args.seconds * 3 + args.drain_s)
    finally:
        await close_all(clients)
    return run


# -- main --------------------------------------------------------------------


async def measure(
    server: BenchServer, peer: PeerServer, counts: tuple[int, ...], args: Any
) -> list[tuple[Run, Run]]:
    results = []
    for number, subscribers in enumerate(counts):
        log(f"ours, {subscribers} subscriber(s)...")
        ours = await timed(measure_ours(server, subscribers, args, number), server.pid)
        log(f"peer, {subscribers} subscriber(s)...")
        theirs = await timed(measure_peer(peer, ours, args), peer.process.pid)
        results.append((ours, theirs))
    return results


async def timed(measurement: Any, pid: int) -> Run:
    """Run a measurement; log its figures and the CPU time server and clients used."""
    server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
    start = time.monotonic()
    run: Run = await measurement
    log(
        f"  {run.events} events at {run.rate:.0f}/s, p50 {run.quantile(50):.1f} ms,"
        f" p99 {run.quantile(99):.1f} ms, {run.lost} lost;"
        f" {time.monotonic() - start:.1f} s, CPU s: server"
        f" {cpu_seconds(pid) - server_cpu:.1f}, clients"
        f" {time.process_time() - client_cpu:.1f}"
    )
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 50, ~2 s each")
    parser.add_argument(
        "--subscribers", help="comma-separated subscriber counts (default 1,50,200)"
    )
    parser.add_argument("--seconds", type=float, help="seconds of events per run")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s aimed at")
    parser.add_argument("--chains", type=int, default=10, help="parallel phase chains")
    parser.add_argument(
        "--drain-s",
        type=float,
        default=120.0,
        help="how long clients may lag behind the last event before it counts lost",
    )
    parser.add_argument("--peer-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_server:
        serve_peer(args.peer_server)
        return 0
    if args.subscribers:
        counts = tuple(int(n) for n in args.subscribers.split(","))
    else:
        counts = QUICK_SUBSCRIBERS if args.quick else FULL_SUBSCRIBERS
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.quick:
        args.drain_s = min(args.drain_s, 20.0)

    home = Path(tempfile.mkdtemp(prefix="dagstudio-bench-live-"))
    server: BenchServer | None = None
    peer: PeerServer | None = None
    try:
        root = home / "root"
        root.mkdir()
        (root / f"{PACE_MODULE}.py").write_text(PACE_SOURCE, encoding="utf-8")
        server = start_server(
            home / "server", root_dir=root, store_path=home / "store.duckdb"
        )
        peer = start_peer(home / "peer.log")
        results = asyncio.run(measure(server, peer, counts, args))
    finally:
        if peer is not None:
            peer.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)

    rates = ", ".join(
        f"{ours.subscribers}: {ours.rate:.0f}/{theirs.rate:.0f}"
        for ours, theirs in results
    )
    print(
        f"# live latency, {args.seconds:g} s of events a run; achieved events/s"
        f" ours/peer by subscribers {rates}; clients in one asyncio process",
        flush=True,
    )
    for ours, theirs in results:
        for q in (50, 99):
            suffix = "subscriber" if ours.subscribers == 1 else "subscribers"
            report(
                f"live latency p{q}, {ours.subscribers} {suffix}",
                ours.quantile(q),
                PEER_NAME,
                theirs.quantile(q),
                "ms",
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
