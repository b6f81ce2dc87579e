"""Kernel runs: how soon the widget shows a finished run, and how much it sends.

A workflow of `--phases` python phases (layers of `--width`, each phase
sleeping `--sleep-ms`, each depending on two phases of the layer before) runs
with `Workflow.run(widget=...)` inside a real IPython kernel started through
`jupyter_client`, with its events in a DuckDB file in a temp dir. This
script plays the front end: it subscribes to the kernel's IOPub channel,
applies every `comm_msg` of the widget's comm to its own copy of the model,
as a browser would, and records when each one arrived.

Two numbers per widget, each the median over `--repeats` runs:

- time to final widget state: from just before the run starts (taken in the
  kernel) until the message that leaves every phase `completed` in the
  synced `phases` trait and the execution `completed` reaches the front end
  (the same machine, so the same clock);
- comm messages: `comm_msg`s of the widget's comm seen on IOPub, from the
  widget's creation until the kernel has been quiet for a while after the
  run (model updates and custom messages, such as the toast at the end).

Ours is `DagWidget` (`Workflow.show()`), which folds committed events and
sends at most one update every `flush_interval_s` (0.1 s). The peer, "one
message per event", is the same widget with the push policy a
straightforward widget has: every committed event sets the `phases` (or
`execution`) trait at once, so each event is one message carrying the whole
trait. The ratio is ours / peer; below 1 means ours is better.

Each widget gets its own fresh kernel. The header line gives the run's
duration as the runner recorded it; the peer's run is slower because its
updates are built on the store's writer thread and hold the GIL. Bytes on
the wire go to stderr.

Full size: 2,000 phases in layers of 50, 40 ms each (about 2 s), 3 repeats.
Quick (`--quick`): 200 phases in layers of 20, 40 ms each, 1 repeat.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagstudio_jupyter import Workflow
from dagstudio_jupyter._state import ExecutionState, SeqGapError
from dagstudio_jupyter.widget import DagWidget, _execution_summary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import report

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient
    from jupyter_client.manager import KernelManager
    from jupyter_client.session import Session

SCRIPT = Path(__file__).resolve()
KERNEL_MODULE = "dagstudio_kernel_bench"
VARIANTS = ("ours", "one message per event")
# After the run, the widget counts as done sending once IOPub has been quiet
# this long: well over our flush interval (0.1 s).
QUIET_S = 0.6
Event = dict[str, Any]


# --- kernel side: runs inside the IPython kernel --------------------------------


class EveryEventWidget(DagWidget):
    """The peer: the same widget and traits, one model update per event.

    Each committed event sets the whole `phases` trait (or `execution`) at
    once, from the store's writer thread, as a widget without coalescing
    does. It sends no toasts.
    """

    def _on_events(self, events: list[Event]) -> None:
        with self._lock:
            state, run = self._state, self._run
            if state is None or run is None:
                return
            for event in events:
                if event["execution_id"] != state.id:
                    continue
                try:
                    if state.apply(event):
                        self._push(state, event)
                except SeqGapError:
                    for missed in run.events(state.last_seq):
                        if state.apply(missed):
                            self._push(state, missed)

    def _push(self, state: ExecutionState, event: Event) -> None:
        phase_id = event.get("phase_id")
        if phase_id is None:
            # The same summary ours sends, so both models end up equal.
            self.execution = _execution_summary(state)
            return
        phase = {k: v for k, v in state.phases[phase_id].items() if k != "id"}
        self.phases = {**self.phases, phase_id: phase}


def build_workflow(phases: int, width: int, sleep_s: float) -> Workflow:
    """Layers of `width` phases; each waits on two phases of the layer before."""

    def work() -> None:
        time.sleep(sleep_s)

    workflow = Workflow("kernel-bench")
    for index in range(phases):
        layer, slot = divmod(index, width)
        parents = {(slot + shift) % width for shift in (0, 1)} if layer else set()
        after = [f"p{layer - 1}_{parent}" for parent in sorted(parents)]
        workflow.add(f"p{layer}_{slot}", work, after=after)
    return workflow


class KernelCase:
    """One measured run in the kernel: a workflow, a widget, a store file."""

    def __init__(
        self, variant: str, phases: int, width: int, sleep_s: float, store: str
    ) -> None:
        from IPython.display import display

        self.workflow = build_workflow(phases, width, sleep_s)
        self.width = width
        self.store = store
        if variant == "ours":
            self.widget = self.workflow.show()
        else:
            self.widget = EveryEventWidget(self.workflow)
        self.sent = 0
        # Counted here too, to tell a message lost on the way from one not sent;
        # sends come from the store's writer thread and from flush timers.
        counting = threading.Lock()
        comm_send = self.widget.comm.send

        def counting_send(*args: Any, **kwargs: Any) -> Any:
            with counting:
                self.sent += 1
            return comm_send(*args, **kwargs)

        self.widget.comm.send = counting_send
        display(self.widget)  # type: ignore[no-untyped-call]

    @property
    def comm_id(self) -> str:
        """The id of the widget's comm, as the front end sees it."""
        return str(self.widget.comm.comm_id)

    def run(self) -> dict[str, Any]:
        """Run the workflow to the end with the widget attached."""
        start = time.time()
        run = self.workflow.run(
            widget=self.widget, store=self.store, max_parallel=self.width
        )
        done = time.time()
        execution = run.execution()
        return {
            "start": start,
            "done": done,
            "status": run.status,
            "started_at": execution["started_at"],
            "finished_at": execution["finished_at"],
            "events": execution["last_seq"],
        }

    def close(self) -> int:
        """Close the widget; return how many comm messages it sent."""
        sent = self.sent
        self.widget.close()
        return sent


# --- front-end side: this process ----------------------------------------------


@dataclass
class CommTrace:
    """What the front end received on one comm."""

    model: dict[str, Any] = field(default_factory=dict)
    messages: int = 0
    bytes: int = 0
    final_at: float | None = None


class IopubRecorder:
    """Subscribes to the kernel's IOPub and plays each widget model forward.

    The socket's receive queue is unbounded, so a burst is buffered here
    rather than dropped at the kernel's send limit.
    """

    def __init__(self, session: Session, url: str, phases: int) -> None:
        import zmq

        self._session = session
        self._phases = phases
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._socket.connect(url)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.comms: dict[str, CommTrace] = {}
        self.received = 0
        self.last_comm_at = 0.0
        self._thread = threading.Thread(target=self._read, name="iopub-reader")
        self._thread.start()

    def _read(self) -> None:
        import zmq

        while not self._stop.is_set():
            if not self._socket.poll(50, zmq.POLLIN):
                continue
            frames = self._socket.recv_multipart()
            now = time.time()
            _, parts = self._session.feed_identities(frames)
            msg = self._session.deserialize(parts)
            with self._lock:
                self.received += 1
                if msg["msg_type"] == "comm_msg":
                    self._apply(msg, now, sum(len(frame) for frame in frames))

    def _apply(self, msg: dict[str, Any], now: float, size: int) -> None:
        trace = self.comms.setdefault(msg["content"]["comm_id"], CommTrace())
        trace.messages += 1
        trace.bytes += size
        self.last_comm_at = now
        data = msg["content"]["data"]
        if data.get("method") != "update" or trace.final_at is not None:
            return
        trace.model.update(data.get("state", {}))
        if self._is_final(trace.model):
            trace.final_at = now

    def _is_final(self, model: dict[str, Any]) -> bool:
        if model.get("execution", {}).get("status") != "completed":
            return False
        phases = model.get("phases", {})
        return len(phases) == self._phases and all(
            phase.get("status") == "completed" for phase in phases.values()
        )

    def trace(self, comm_id: str) -> CommTrace:
        """A snapshot of what arrived on `comm_id` so far."""
        with self._lock:
            found = self.comms.get(comm_id, CommTrace())
            return CommTrace({}, found.messages, found.bytes, found.final_at)

    def wait_quiet(self, since: float, timeout: float) -> None:
        """Wait until no comm message arrived for QUIET_S, counting from `since`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                last = max(self.last_comm_at, since)
            if time.time() - last >= QUIET_S:
                return
            time.sleep(0.05)
        raise TimeoutError(f"IOPub still busy after {timeout:g} s")

    def close(self) -> None:
        """Stop reading and release the socket."""
        self._stop.set()
        self._thread.join()
        self._socket.close(linger=0)
        self._context.term()


class KernelSession:
    """A fresh IPython kernel of this Python, in its own temp dirs."""

    def __init__(self, workdir: Path, phases: int) -> None:
        from jupyter_client.kernelspec import KernelSpecManager

        spec_dir = workdir / "kernels" / "bench"
        spec_dir.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec = {"argv": argv, "display_name": "bench", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        env = dict(os.environ)
        for name in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"):
            env[name] = str(workdir / name.lower())
        env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
        env["MPLBACKEND"] = "agg"
        # IPC sockets in the temp dir: nothing listens on a network port.
        from jupyter_client.manager import KernelManager

        self.manager: KernelManager = KernelManager(
            transport="ipc",
            ip=str(workdir / "kernel-ipc"),
            kernel_name="bench",
            kernel_spec_manager=KernelSpecManager(
                kernel_dirs=[str(workdir / "kernels")]
            ),
            connection_file=str(workdir / "connection.json"),
        )
        # Only this script's report lines belong on stdout.
        self.manager.start_kernel(env=env, cwd=str(workdir), stdout=subprocess.DEVNULL)
        self.client: BlockingKernelClient = self.manager.client()
        self.recorder: IopubRecorder | None = None
        try:
            self.client.start_channels(iopub=False, stdin=False, hb=False)
            self._wait_ready()
            session = type(self.client.session)(
                key=self.client.session.key,
                signature_scheme=self.client.session.signature_scheme,
            )
            url = f"ipc://{self.client.ip}-{self.client.iopub_port}"
            self.recorder = IopubRecorder(session, url, phases)
            self._wait_subscribed()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        asked: set[str] = set()
        while time.monotonic() < deadline:
            asked.add(self.client.kernel_info())
            try:
                reply = self.client.get_shell_msg(timeout=1)
            except queue.Empty:  # not up yet: ask again
                continue
            if reply["parent_header"].get("msg_id") in asked:
                return
        raise TimeoutError(f"the kernel did not answer within {timeout:g} s")

    def _wait_subscribed(self, timeout: float = 30) -> None:
        """Run empty cells until IOPub messages reach the recorder."""
        assert self.recorder is not None
        deadline = time.monotonic() + timeout
        while self.recorder.received == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("no IOPub message reached the recorder")
            self.execute("pass")

    def execute(self, code: str, expression: str | None = None) -> Any:
        """Run a cell; return the JSON value of `expression` evaluated after it."""
        expressions = {"result": expression} if expression else {}
        msg_id = self.client.execute(
            code, store_history=False, user_expressions=expressions
        )
        while True:
            reply = self.client.get_shell_msg(timeout=600)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content["status"] != "ok":
            trace = "\n".join(content.get("traceback", []))
            raise RuntimeError(
                f"kernel cell failed: {content.get('ename')}: "
                f"{content.get('evalue')}\n{trace}"
            )
        if not expression:
            return None
        value = content["user_expressions"]["result"]
        if value["status"] != "ok":
            raise RuntimeError(f"kernel expression failed: {value.get('evalue')}")
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))

    def close(self) -> None:
        """Stop the IOPub reader, the channels and the kernel."""
        if self.recorder is not None:
            self.recorder.close()
        self.client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=False)


@dataclass
class Measure:
    """One run of one widget, as the front end saw it."""

    final_s: float
    messages: int
    sent: int
    bytes: int
    run_s: float


def measure_variant(
    variant: str, args: argparse.Namespace, workdir: Path
) -> list[Measure]:
    """Run the workflow `args.repeats` times in one fresh kernel."""
    kernel = KernelSession(workdir, args.phases)
    try:
        kernel.execute(
            "import importlib.util, sys\n"
            f"_spec = importlib.util.spec_from_file_location({KERNEL_MODULE!r}, "
            f"{str(SCRIPT)!r})\n"
            "_bench = importlib.util.module_from_spec(_spec)\n"
            "sys.modules[_spec.name] = _bench\n"
            "_spec.loader.exec_module(_bench)\n"
        )
        return [
            measure_once(kernel, variant, args, workdir / f"runs-{index}.duckdb")
            for index in range(args.repeats)
        ]
    finally:
        kernel.close()


def measure_once(
    kernel: KernelSession, variant: str, args: argparse.Namespace, store: Path
) -> Measure:
    """One run: set the widget up, run, wait for the front end to settle."""
    assert kernel.recorder is not None
    options = (variant, args.phases, args.width, args.sleep_ms / 1000, str(store))
    comm_id = kernel.execute(
        f"_case = _bench.KernelCase(*{options!r})",
        "__import__('json').dumps(_case.comm_id)",
    )
    result = kernel.execute(
        "_result = _case.run()", "__import__('json').dumps(_result)"
    )
    if result["status"] != "completed":
        raise RuntimeError(f"{variant}: the run ended {result['status']}")
    deadline = time.monotonic() + args.timeout
    while kernel.recorder.trace(comm_id).final_at is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{variant}: the front end never saw the final state")
        time.sleep(0.05)
    kernel.recorder.wait_quiet(result["done"], args.timeout)
    trace = kernel.recorder.trace(comm_id)
    sent = kernel.execute("_sent = _case.close()", "__import__('json').dumps(_sent)")
    assert trace.final_at is not None
    measure = Measure(
        final_s=trace.final_at - result["start"],
        messages=trace.messages,
        sent=sent,
        bytes=trace.bytes,
        run_s=_seconds_between(result["started_at"], result["finished_at"]),
    )
    print(
        f"{variant}: final state after {measure.final_s:.3f} s, "
        f"{measure.messages} messages ({measure.sent} sent), "
        f"{measure.bytes / 1e6:.1f} MB, run {measure.run_s:.2f} s, "
        f"{result['events']} events, run() returned after "
        f"{result['done'] - result['start']:.3f} s",
        file=sys.stderr,
    )
    # `sent` misses the update the widget sends from its own constructor.
    if measure.messages < measure.sent:
        print(
            f"warning: {variant}: {measure.sent - measure.messages} of "
            f"{measure.sent} messages did not reach the front end",
            file=sys.stderr,
        )
    return measure


def _seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options; `--quick` picks the small sizes unless they are given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast sizes")
    parser.add_argument("--phases", type=int, help="phases (2000; quick 200)")
    parser.add_argument("--width", type=int, help="phases a layer (50; quick 20)")
    parser.add_argument("--sleep-ms", type=float, default=40.0, help="per phase")
    parser.add_argument("--repeats", type=int, help="runs per widget (3; quick 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, s")
    args = parser.parse_args(argv)
    if args.phases is None:
        args.phases = 200 if args.quick else 2000
    if args.width is None:
        args.width = 20 if args.quick else 50
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.phases < 1 or args.width < 1 or args.repeats < 1:
        parser.error("--phases, --width and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure both widgets and print one line per figure."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dagstudio-kernel-bench-"))
    try:
        results = {
            variant: measure_variant(variant, args, workdir / f"kernel-{number}")
            for number, variant in enumerate(VARIANTS)
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours, peer = (results[variant] for variant in VARIANTS)

    def median(measures: list[Measure], name: str) -> float:
        return float(statistics.median(getattr(m, name) for m in measures))

    layers = -(-args.phases // args.width)
    print(
        f"# kernel runs: {args.phases} phases in {layers} layers of {args.width}, "
        f"{args.sleep_ms:g} ms each, median of {args.repeats}; run took "
        f"{median(ours, 'run_s'):.2f} s (ours), {median(peer, 'run_s'):.2f} s "
        f"({VARIANTS[1]})"
    )
    print(
        f"bytes to the front end: ours {median(ours, 'bytes') / 1e6:.2f} MB, "
        f"{VARIANTS[1]} {median(peer, 'bytes') / 1e6:.2f} MB",
        file=sys.stderr,
    )
    report(
        f"{args.phases} phases: time to final widget state",
        median(ours, "final_s"),
        VARIANTS[1],
        median(peer, "final_s"),
        "s",
    )
    report(
        f"{args.phases} phases: comm messages",
        median(ours, "messages"),
        VARIANTS[1],
        median(peer, "messages"),
        "messages",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
