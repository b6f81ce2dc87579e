"""The Dask executor: python phases as tasks on a `distributed` cluster."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._kinds import PhaseFailed
from .errors import DagStudioError
from .executors import Executor, ResultHandle, function_name

try:
    import distributed as _distributed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the dask executor needs the distributed package: "
        "pip install 'dagstudio-jupyter[dask]'"
    ) from exc

# distributed is only partly annotated and mypy's strict mode rejects calls to
# its unannotated functions, so its objects are handled as Any here.
distributed: Any = _distributed
Client = Any
Future = Any
LocalCluster = Any

log = logging.getLogger(__name__)

# How long shutdown() waits for a client on another thread's loop to close.
CLOSE_WAIT_S = 10.0


class ResultReleasedError(DagStudioError):
    """A result handle whose Dask client has closed: its value is gone."""


@dataclass
class _LoopClient:
    """What the executor holds on one event loop."""

    users: int = 0
    client: Client | None = None
    owned: bool = True
    connecting: asyncio.Future[Client] | None = None
    cancels: set[asyncio.Future[Any]] = field(default_factory=set)


class DaskExecutor(Executor):
    """Runs python phases as futures on a Dask cluster.

    Give the scheduler's `address` (such as `tcp://127.0.0.1:8786`) or a
    `distributed.Client`; with neither, a `LocalCluster` is started on first
    use with `n_workers`, `threads_per_worker`, `processes` and any other
    `cluster_options`, and closed by `shutdown()`. A given client or
    address is never closed.

    The executor only runs code: the runner stays the one source of status
    and events. On each event loop that uses it, it keeps an asynchronous
    client made on that loop (the server's loop, or a kernel run's own).
    `call` returns a `DaskResult` handle once the task has finished; the
    value stays on the workers. A handle among a later phase's arguments
    is handed to `client.submit` as its future, so workers fetch the value
    from each other without a round trip through the runner. Coroutine
    functions run as Dask's own async tasks, on the worker's event loop (so
    they must not block it).

    Only python phases run on the cluster: shell, script and notebook phases
    still run as processes on the machine of the runner (the Jupyter server
    or the kernel). Workers of a remote cluster need this package installed,
    as they need the modules of the phase functions: the small wrappers that
    run a phase there come from it.

    Known limitation: when a phase times out or is cancelled, its future is
    cancelled and Dask forgets it, but a task a worker thread has started
    runs on until the function returns (Python cannot stop a thread); Dask
    discards its result.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Client | None = None,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        processes: bool | None = None,
        **cluster_options: Any,
    ) -> None:
        if address and client is not None:
            raise ValueError("give a scheduler address or a client, not both")
        local: dict[str, Any] = {
            key: value
            for key, value in (
                ("n_workers", n_workers),
                ("threads_per_worker", threads_per_worker),
                ("processes", processes),
            )
            if value is not None
        }
        local.update(cluster_options)
        if (address or client is not None) and local:
            raise ValueError(
                f"cluster options {sorted(local)} apply only to a local cluster "
                "started by the executor, not to a given address or client"
            )
        # Dashboards on free ports of the loopback interface: a server must not
        # expose them (in-process workers would listen on every interface) nor
        # clash with a cluster the user runs on 8787.
        local.setdefault("dashboard_address", "127.0.0.1:0")
        local.setdefault("worker_dashboard_address", "127.0.0.1:0")
        self._address = address or None
        self._given_client = client
        self._cluster_options = local
        self._cluster: LocalCluster | None = None
        self._cluster_lock = threading.Lock()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._loops_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        where = self._address or ("a given client" if self._given_client else None)
        if where is None:
            where = self._cluster.scheduler_address if self._cluster else "local"
        return f"<DaskExecutor {where}>"

    @property
    def cluster(self) -> LocalCluster | None:
        """The local cluster this executor started, if any."""
        return self._cluster

    async def acquire(self) -> None:
        self._state().users += 1

    async def prepare(self) -> None:
        # Connecting (and starting a local cluster) can take seconds; done
        # here, it is not charged to the first phases' timeouts.
        await self.client()

    async def release(self) -> None:
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.get(loop)
            if state is None:
                return
            state.users = max(state.users - 1, 0)
            if state.users:
                return
            del self._loops[loop]
        await _close_loop_client(state)

    def _state(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            return self._loops.setdefault(loop, _LoopClient())

    async def client(self) -> Client:
        """The asynchronous client of the running loop, connected on first use."""
        if self._closed:
            raise PhaseFailed("the Dask executor has been shut down")
        state = self._state()
        if state.client is not None:
            return state.client
        given = self._given_client
        loop = asyncio.get_running_loop()
        if given is not None and given.asynchronous and given.loop.asyncio_loop is loop:
            state.client, state.owned = given, False
            return given
        if state.connecting is None:
            state.connecting = asyncio.ensure_future(self._connect())
            # Read here too, for when every phase waiting on it was cancelled.
            state.connecting.add_done_callback(_retrieve_exception)
        connecting = state.connecting
        try:
            # Shielded: a phase cancelled meanwhile must not abort the connection
            # other phases wait for.
            client = await asyncio.shield(connecting)
        except Exception:
            if state.connecting is connecting:
                state.connecting = None  # the next phase tries again
            raise
        state.client = client
        return client

    async def _connect(self) -> Client:
        if self._address or self._given_client is not None:
            address = self._scheduler_address()
        else:  # starting a local cluster blocks for a while
            address = await asyncio.to_thread(self._scheduler_address)
        try:
            return await distributed.Client(
                address, asynchronous=True, set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise PhaseFailed(
                f"cannot reach the Dask scheduler at {address!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _scheduler_address(self) -> str:
        """The scheduler to connect to; starts the local cluster when needed."""
        if self._address:
            return self._address
        if self._given_client is not None:
            return str(self._given_client.scheduler.address)
        with self._cluster_lock:
            if self._closed:
                raise PhaseFailed("the Dask executor has been shut down")
            if self._cluster is None:
                log.info("starting a local Dask cluster %s", self._cluster_options)
                self._cluster = distributed.LocalCluster(**self._cluster_options)
            return str(self._cluster.scheduler_address)

    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        client = await self.client()
        name = function_name(func)
        wrapper = _call_async if inspect.iscoroutinefunction(func) else _call
        key = f"{_key_name(name)}-{uuid.uuid4().hex}"
        arguments = _with_futures(kwargs, client)
        try:
            future = client.submit(wrapper, func, arguments, key=key, pure=False)
        except Exception as exc:
            raise PhaseFailed(
                f"cannot send function {name!r} to the Dask cluster: {_root_cause(exc)}"
            ) from exc
        try:
            await _finished(future)
        except asyncio.CancelledError:
            self._cancel(client, future)
            raise
        if future.status == "finished":
            return DaskResult(future, asyncio.get_running_loop(), name)
        if future.status == "error":
            raise await future.exception()
        raise PhaseFailed(f"the Dask task {key!r} ended {future.status}")

    def _cancel(self, client: Client, future: Future) -> None:
        state = self._state()
        cancel = asyncio.ensure_future(
            client.cancel([future], reason="the phase timed out or was cancelled")
        )
        state.cancels.add(cancel)
        cancel.add_done_callback(state.cancels.discard)

    def shutdown(self) -> None:
        """Close the clients this executor made and the local cluster it started.

        It blocks while the cluster closes; on an event loop, `await aclose()`.
        """
        self._closed = True
        with self._loops_lock:
            states = list(self._loops.items())
            self._loops.clear()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, state in states:
            if state.client is None or not state.owned or loop.is_closed():
                continue
            if loop is running:
                # Cannot wait here; the loop closes the client after this returns.
                loop.create_task(_close_loop_client(state))
                continue
            closing = asyncio.run_coroutine_threadsafe(_close_loop_client(state), loop)
            with contextlib.suppress(Exception):
                closing.result(CLOSE_WAIT_S)
        with self._cluster_lock:
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    async def aclose(self) -> None:
        # On a worker thread: closing blocks, and a loop blocked meanwhile finds
        # the timers of its closed client overdue, which distributed reports as
        # a future whose TimeoutError was never retrieved.
        await asyncio.to_thread(self.shutdown)


class DaskResult(ResultHandle):
    """A phase result held by Dask workers, as the runner keeps it.

    `future` is the `distributed.Future`; the value stays on the cluster
    while the client of the loop that made it is open (for a kernel run,
    until `Run.close()`).
    """

    def __init__(
        self, future: Future, loop: asyncio.AbstractEventLoop, name: str
    ) -> None:
        self.future = future
        self.loop = loop
        self.name = name

    def __repr__(self) -> str:
        return f"<DaskResult of {self.name!r} {self.future.key!r} {self.status}>"

    @property
    def key(self) -> str:
        """The Dask key of the value."""
        return str(self.future.key)

    @property
    def status(self) -> str:
        """'finished' while the value is on the cluster, else why it is not."""
        if self._released():
            return "released"
        return str(self.future.status)

    def _released(self) -> bool:
        client = self.future.client
        return self.loop.is_closed() or client.status in ("closing", "closed")

    def _check(self) -> None:
        if self._released():
            raise ResultReleasedError(
                f"the result of {self.name!r} is no longer on the Dask cluster: "
                "the client holding it has closed (the run was closed, or the "
                "executor shut down)"
            )
        if self.future.status != "finished":
            # Checked first: awaiting a cancelled future raises a CancelledError,
            # which asyncio code would take for its own cancellation.
            raise ResultReleasedError(
                f"the result of {self.name!r} is no longer on the Dask cluster "
                f"(its future is {self.future.status})"
            )

    async def fetch(self) -> Any:
        self._check()
        return await self.future

    async def fetch_json(self, max_bytes: int) -> tuple[bool, Any]:
        self._check()
        check = self.future.client.submit(
            _small_json,
            self.future,
            max_bytes,
            key=f"keep_json-{uuid.uuid4().hex}",
            pure=False,
        )
        kept, value = await check
        return bool(kept), value

    def result(self, timeout: float | None = None) -> Any:
        self._check()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("on the handle's own loop, use `await handle.fetch()`")
        if not self.loop.is_running():
            raise ResultReleasedError(
                f"the result of {self.name!r} can no longer be fetched: the event "
                "loop of its client has stopped"
            )
        return asyncio.run_coroutine_threadsafe(self.fetch(), self.loop).result(timeout)


async def _close_loop_client(state: _LoopClient) -> None:
    if state.cancels:
        await asyncio.gather(*state.cancels, return_exceptions=True)
    if state.client is None and state.connecting is not None:
        # Released while connecting: wait for the client, so it gets closed.
        with contextlib.suppress(Exception):
            state.client = await state.connecting
    client, state.client = state.client, None
    if client is not None and state.owned:
        await client.close()


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _finished(future: Future) -> None:
    """Wait until a task has finished, failed or been cancelled, without its value."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    def on_done(_: Future) -> None:
        # Called on a callback thread of distributed.
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(settle)

    future.add_done_callback(on_done)
    await done


def _with_futures(value: Any, client: Client) -> Any:
    """Arguments with each `DaskResult` replaced by its future, for `submit`."""
    if isinstance(value, DaskResult):
        if value.future.client is not client:
            value._check()
            raise PhaseFailed(
                f"the result of {value.name!r} belongs to another Dask client"
            )
        return value.future
    if isinstance(value, dict):
        return {key: _with_futures(item, client) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_with_futures(item, client) for item in value)
    return value


def _call(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """On a worker: run a plain phase function."""
    try:
        result = func(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except (SystemExit, KeyboardInterrupt) as exc:
        # Dask lets these end the worker; for a phase they are a failure.
        raise RuntimeError(f"the phase raised {type(exc).__name__}: {exc}") from None
    return result


async def _call_async(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """On a worker's event loop: run a coroutine phase function."""
    try:
        return await func(**kwargs)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise RuntimeError(f"the phase raised {type(exc).__name__}: {exc}") from None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _small_json(value: Any, max_bytes: int) -> tuple[bool, Any]:
    """On a worker: the value when its JSON text is small, the runner's keep rule."""
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return False, None
    return (True, value) if size <= max_bytes else (False, None)


def _key_name(name: str) -> str:
    # Dask groups tasks by the key's prefix; keep it readable in the dashboard.
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned.strip("_")[:60] or "phase"


def _root_cause(exc: BaseException) -> str:
    """`Type: message` of the innermost cause, which names what failed to pickle."""
    inner = exc
    seen = {id(inner)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    return f"{type(inner).__name__}: {inner}"
