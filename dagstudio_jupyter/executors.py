"""Where a phase's code runs: executors behind one small interface."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import multiprocessing
import pickle
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ._kinds import PhaseFailed

EXECUTORS = ("thread", "process", "dask")


class Executor(ABC):
    """Runs one python callable of a phase and returns its result.

    A runner calls `acquire()` on its event loop before its first `call` and
    `release()` after its last; an executor that keeps something per loop
    (the Dask client) sets it up and frees it there. `async with executor:`
    does the same around direct calls.
    """

    @abstractmethod
    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run `func(**kwargs)` and return its result (or raise what it raises).

        The result may be a `ResultHandle` when the value stays where it was
        computed.
        """

    async def fetch(self, result: Any) -> Any:
        """The value of a result `call` returned, fetched if it is a handle."""
        if isinstance(result, ResultHandle):
            return await result.fetch()
        return result

    async def acquire(self) -> None:  # noqa: B027 - optional hook
        """Mark the running loop as using this executor."""

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Get ready to run phases (connect, start workers) before any starts.

        The runner calls it before the first phase, so a phase's `timeout_s`
        counts its own run, not the executor's start-up. A failure here is
        not final: each phase then meets it in `call` and reports it.
        """

    async def release(self) -> None:  # noqa: B027 - optional hook
        """Undo one `acquire`; the last one on a loop frees what it holds there."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook; most hold nothing
        """Release workers; the executor is not used afterwards."""

    async def aclose(self) -> None:
        """`shutdown()` from an event loop, without blocking it."""
        self.shutdown()

    async def __aenter__(self) -> Executor:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


class ResultHandle(ABC):
    """A phase result left where it was computed (on a Dask cluster).

    The runner keeps handles and hands them to downstream phases, which
    resolve them where they run; the value travels only when asked for.
    """

    @abstractmethod
    async def fetch(self) -> Any:
        """Bring the value here; call on the loop the handle was made on."""

    @abstractmethod
    async def fetch_json(self, max_bytes: int) -> tuple[bool, Any]:
        """`(True, value)` when the value is JSON of at most `max_bytes`, else
        `(False, None)`; the check runs where the value lives."""

    @abstractmethod
    def result(self, timeout: float | None = None) -> Any:
        """Bring the value here from another thread than the handle's loop."""


class ThreadExecutor(Executor):
    """Runs plain functions in daemon threads and coroutines on the running loop.

    Known limitation: Python cannot stop a thread, so a timed-out or cancelled
    plain function keeps running in its thread until it returns; the runner
    has already moved on and ignores its result. The threads are daemons, so
    such a function does not keep the server or kernel from exiting. Threads
    start only when needed; the generous cap keeps stuck threads from
    starving phases that come after them (the runner's own limit is
    `max_parallel`).
    """

    def __init__(self, max_workers: int = 256) -> None:
        self._pool = _DaemonThreadPool(max_workers, "dagstudio-phase")

    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(func):
            return await func(**kwargs)
        future = self._pool.submit(functools.partial(func, **kwargs))
        result = await asyncio.wrap_future(future)
        if inspect.isawaitable(result):
            return await result
        return result

    def shutdown(self) -> None:
        # Do not wait: a thread stuck past its timeout must not hold up the run.
        self._pool.shutdown()


class _DaemonThreadPool:
    """A thread pool whose threads are daemons.

    The standard pool's threads are joined when the interpreter exits, so
    one phase stuck past its timeout would keep a stopped server alive
    until the function returned, which may be never.
    """

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for work that no submit has claimed
        self._closed = False

    def submit(self, call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the thread executor has been shut down")
            if self._idle:
                self._idle -= 1
            elif self._threads < self._max_workers:
                self._threads += 1
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{self._threads}", daemon=True
                )
                thread.start()
            self._queue.put((future, call))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the awaiting phase
                    future.set_exception(exc)
            del item, future, call  # drop the result before waiting again
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            threads = self._threads
        while True:  # cancel what no thread has started
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in range(threads):
            self._queue.put(None)


class ProcessExecutor(Executor):
    """Runs python phases in a pool of worker processes, for CPU-bound work.

    Workers start by `forkserver` where the platform has it, else `spawn`:
    forking the runner's process, which has threads and an event loop, is
    unsafe. Functions, their arguments and their results travel by pickle,
    so a function must be importable from a module; one defined in a
    notebook cell or a lambda cannot be sent and its phase fails saying so.
    Coroutine functions run in the worker with an event loop of their own.

    Known limitation: a process pool cannot stop a task once a worker has
    started it. A timed-out or cancelled phase fails or is cancelled at once
    and the runner moves on, but its worker stays busy until the function
    returns (one worker fewer for later phases); `shutdown()` then
    terminates such workers rather than wait for them.
    """

    def __init__(
        self, max_workers: int | None = None, *, start_method: str | None = None
    ) -> None:
        methods = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method == "fork":
            raise ValueError(
                "start_method 'fork' is unsafe with the runner's threads and event "
                "loop; use 'forkserver' or 'spawn'"
            )
        self._context = multiprocessing.get_context(start_method)
        self._max_workers = max_workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # Started on first use, so a server configured for processes pays
        # nothing until a python phase runs.
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._max_workers, mp_context=self._context
            )
        return self._pool

    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        name = function_name(func)
        # Pickled here (off the loop), so a function or argument that cannot
        # travel is named in the phase's error instead of breaking the pool.
        payload = await asyncio.to_thread(_pickle_call, func, kwargs, name)
        future = self._get_pool().submit(_run_pickled, payload, name)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        # Cancelling the wrapper cancels a task still queued; one that runs
        # goes on in its worker (see the class docstring).
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        busy = any(not future.done() for future in self._pending)
        # The pool offers no public handle on its processes (and forgets them in
        # shutdown), hence the private attribute, read first.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        if busy:
            # A worker still running a timed-out or cancelled phase would keep
            # the interpreter from exiting until the function returns.
            for process in processes:
                process.terminate()


def function_name(func: Callable[..., Any]) -> str:
    """A function's qualified name, for messages."""
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", func))


def _pickle_call(func: Callable[..., Any], kwargs: dict[str, Any], name: str) -> bytes:
    try:
        pickled_func = pickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise PhaseFailed(
            f"cannot send function {name!r} to a worker process: "
            f"{type(exc).__name__}: {exc} (the process executor needs a function "
            "importable from a module, not a lambda or one defined in a notebook)"
        ) from exc
    try:
        pickled_kwargs = pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise PhaseFailed(
            f"cannot send the arguments of function {name!r} to a worker process: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return pickle.dumps((pickled_func, pickled_kwargs))


def _run_pickled(payload: bytes, name: str) -> Any:
    """In a worker process: load the function and its arguments, run it."""
    pickled_func, pickled_kwargs = pickle.loads(payload)
    try:
        func = pickle.loads(pickled_func)
        kwargs = pickle.loads(pickled_kwargs)
    except Exception as exc:
        raise PhaseFailed(
            f"function {name!r} cannot be loaded in a worker process: "
            f"{type(exc).__name__}: {exc} (functions defined in a notebook or in "
            "__main__ cannot be; put them in a module)"
        ) from None
    try:
        result = func(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except (SystemExit, KeyboardInterrupt) as exc:
        # Left alone they would end the worker and break the whole pool.
        raise PhaseFailed(f"the phase raised {type(exc).__name__}: {exc}") from None
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def make_executor(spec: str | Executor | None = None, **options: Any) -> Executor:
    """Return an executor for a name or pass an instance through.

    Names: "thread" (the default), "process" and "dask" (which needs the
    `distributed` package). `options` go to the executor's class.
    """
    if isinstance(spec, Executor):
        if options:
            raise TypeError("options cannot be given with an Executor instance")
        return spec
    if spec is None or spec == "thread":
        return ThreadExecutor(**options)
    if spec == "process":
        return ProcessExecutor(**options)
    if spec == "dask":
        from .dask_executor import DaskExecutor

        return DaskExecutor(**options)
    expected = ", ".join(repr(name) for name in EXECUTORS)
    raise ValueError(
        f"unknown executor {spec!r}; expected one of {expected} or an Executor"
    )
