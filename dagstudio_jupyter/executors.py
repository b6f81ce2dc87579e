"""Where a phase's code runs: executors behind one small interface."""

from __future__ import annotations

import asyncio
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Executor(ABC):
    """Runs one python callable of a phase and returns its result."""

    @abstractmethod
    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run `func(**kwargs)` and return what it returns (or raise what it raises)."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook; most hold nothing
        """Release workers; the executor is not used afterwards."""


class ThreadExecutor(Executor):
    """Runs plain functions in a thread pool and coroutines on the running loop.

    Known limitation: Python cannot stop a thread, so a timed-out or cancelled
    plain function keeps running in its thread until it returns; the runner
    has already moved on and ignores its result. Threads start only when
    needed; the generous cap keeps such stuck threads from starving phases
    that come after them (the runner's own limit is `max_parallel`).
    """

    def __init__(self, max_workers: int = 256) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="dagstudio-phase"
        )

    async def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(func):
            return await func(**kwargs)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._pool, functools.partial(func, **kwargs)
        )
        if inspect.isawaitable(result):
            return await result
        return result

    def shutdown(self) -> None:
        # Do not wait: a thread stuck past its timeout must not hold up the run.
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_executor(spec: str | Executor | None) -> Executor:
    """Return an executor for a name (`"thread"`) or pass an instance through."""
    if spec is None or spec == "thread":
        return ThreadExecutor()
    if isinstance(spec, Executor):
        return spec
    raise ValueError(f"unknown executor {spec!r}; expected 'thread' or an Executor")
