"""The asyncio scheduler: runs ready phases in parallel and emits every state change."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._cache import PhaseCache, phase_key, result_digest
from ._kinds import PhaseFailed, run_phase_code
from ._state import ExecutionState, utc_now
from .errors import PhaseTimeoutError
from .executors import Executor, ResultHandle, make_executor
from .rerun import NOT_SELECTED, RerunPlan
from .workflow import Workflow

log = logging.getLogger(__name__)

Event = dict[str, Any]
DONE = frozenset({"completed", "cached"})
RERUN_ALL = frozenset(
    {"pending", "queued", "running", "failed", "cancelled", "skipped"}
)
# A result larger than this, or not JSON, is not kept with its event; a server
# restart then cannot hand it to downstream phases that have yet to run.
MAX_KEPT_RESULT_BYTES = 64 * 1024
# How long the keep rule may take to look at a result left on a cluster.
KEEP_CHECK_TIMEOUT_S = 60.0
# Errors are shown in toasts and stored with every event that carries them.
MAX_ERROR_CHARS = 2000
T = TypeVar("T")
_MISSING = object()


def new_execution_id() -> str:
    """Return a fresh, unguessable execution id."""
    return uuid.uuid4().hex


class Runner:
    """Runs one execution of a workflow on the running asyncio loop.

    Every state change becomes an event with the next `seq`, handed to `emit`
    (which must not block); the runner never touches a database or a socket.
    Given the `state` of an earlier execution, it resumes: completed phases
    are kept and phases whose status is in `rerun` run again with `attempt`
    raised. With `keep_results`, JSON results up to 64 KiB travel on the
    `completed` event, so a resumed run can hand them downstream.

    `results` holds what the executor returned: with the Dask executor, a
    `ResultHandle` per phase while the value stays on the cluster (only a
    small JSON value is fetched for the keep rule). An executor named by a
    string is the runner's own: it is shut down when the run ends, and
    handles are replaced by their values just before, as its cluster goes.

    With a `plan` (a derived run, see `rerun.py`) only the planned phases
    run; the others are reused from the source execution or skipped. With a
    `cache`, a phase whose `cache` field (else `cache_default`) allows it and
    that is not in `force` is skipped as `cached` when the cache holds a
    successful run with the same content hash (`_cache.py`).
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        emit: Callable[[Event], None] | None = None,
        execution_id: str | None = None,
        owner: str | None = None,
        state: ExecutionState | None = None,
        results: dict[str, Any] | None = None,
        max_parallel: int = 4,
        executor: Executor | str | None = None,
        retry_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        rerun: frozenset[str] = RERUN_ALL,
        keep_results: bool = False,
        plan: RerunPlan | None = None,
        cache: PhaseCache | None = None,
        cache_default: bool = False,
        force: frozenset[str] = frozenset(),
    ) -> None:
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int):
            raise TypeError(
                f"max_parallel must be a whole number, got {max_parallel!r}"
            )
        if max_parallel < 1:
            raise ValueError(f"max_parallel must be 1 or more, got {max_parallel}")
        self.workflow = workflow.validate()
        self.plan = plan
        self.state = state or ExecutionState(
            execution_id or new_execution_id(),
            workflow.to_dict(),
            owner=owner,
            derived_from=plan.derived_from() if plan else None,
        )
        self.results: dict[str, Any] = dict(results or {})
        self.max_parallel = max_parallel
        self.retry_backoff_s = retry_backoff_s
        self.max_backoff_s = max_backoff_s
        self._emit = emit
        self.rerun = rerun
        self.keep_results = keep_results
        self._executor = make_executor(executor)
        self._owns_executor = not isinstance(executor, Executor)
        self._cancel_requested = False
        self._ended = False
        self._main: asyncio.Task[Any] | None = None
        self._order: list[str] = []
        self._cache = cache
        if plan is not None and plan.mode != "resume":
            # What a person chose to run again runs, cached or not; a resume
            # runs what did not complete, and may find some of it cached.
            force = force | plan.selected
        self.force = force
        self._cacheable = {
            pid
            for pid, phase in self.workflow.phases.items()
            if (cache_default if phase.cache is None else phase.cache)
            and pid not in force
        }
        # Keys are worked out only when some phase may come from the cache.
        self._keys: dict[str, str] | None = {} if cache and self._cacheable else None

    @property
    def executor(self) -> Executor:
        """Where python phases run."""
        return self._executor

    @property
    def execution_id(self) -> str:
        """The id of the execution this runner drives."""
        return self.state.id

    def cancel(self) -> None:
        """Cancel the run; call it on the runner's loop."""
        if self._ended:
            return  # only results are being fetched; nothing left to cancel
        self._cancel_requested = True
        if self._main is not None:
            self._main.cancel()

    def _event(
        self, phase_id: str | None, status: str, attempt: int = 0, **extra: Any
    ) -> None:
        event: Event = {
            "seq": self.state.last_seq + 1,
            "at": utc_now(),
            "execution_id": self.state.id,
            "phase_id": phase_id,
            "status": status,
            "attempt": attempt,
            "error": extra.pop("error", None),
            **extra,
        }
        self.state.apply(event)
        if self._emit is not None:
            self._emit(event)

    async def run(self, *, reason: str | None = None) -> ExecutionState:
        """Run to the end and return the final state.

        `reason` (such as "recovered") is recorded on the opening event. When
        the task running this is cancelled from outside without `cancel()`,
        nothing more is emitted, so the execution stays running for recovery.
        """
        self._main = asyncio.current_task()
        extra: dict[str, Any] = {"reason": reason} if reason else {}
        self._event(None, "running", **extra)
        if self.plan is not None:
            self._apply_plan(self.plan)
        await self._executor.acquire()
        try:
            try:
                if self._cancel_requested:
                    raise asyncio.CancelledError
                await self._prepare_executor()
                await self._schedule()
            except asyncio.CancelledError:
                if not self._cancel_requested:
                    raise
                self._finish_cancelled()
            except Exception as exc:
                log.exception(
                    "execution %s stopped by an internal error", self.state.id
                )
                self.finish_failed_internally(exc)
            self._ended = True
            if self._cache is not None:
                self._cache.trim()
            if self._owns_executor:
                await self._fetch_handles()
        finally:
            try:
                await self._executor.release()
                if self._owns_executor:
                    await self._executor.aclose()
            except Exception:
                log.exception("execution %s: the executor did not close", self.state.id)
        return self.state

    def _apply_plan(self, plan: RerunPlan) -> None:
        """Take reused phases from the source run; skip what is not selected.

        Known limitation: a server stopped between the execution's first event
        and these (microseconds) leaves them pending; recovery then runs them.
        """
        self.results.update(plan.results)
        for pid in self.workflow.topological_order():
            phase = self.state.phases[pid]
            if pid in plan.selected or phase["status"] != "pending":
                continue
            reused = plan.reused.get(pid)
            if reused is None:
                self._event(
                    pid,
                    "skipped",
                    phase["attempt"],
                    error=NOT_SELECTED,
                    reason="not_selected",
                )
                continue
            extra: dict[str, Any] = {
                "from_execution": reused["from_execution"],
                "started_at": reused["started_at"],
                "finished_at": reused["finished_at"],
            }
            if self.keep_results and pid in plan.results:
                extra.update(_kept(plan.results[pid]))
            self._event(pid, reused["status"], reused["attempt"] or 0, **extra)

    async def _prepare_executor(self) -> None:
        """Let the executor start up before python phases time their attempts."""
        if not any(p.kind == "python" for p in self.workflow.phases.values()):
            return
        try:
            await self._executor.prepare()
        except Exception as exc:
            # Not fatal here: each python phase meets the same failure in
            # `call` and reports it, with its retries.
            log.warning(
                "execution %s: the executor is not ready: %s",
                self.state.id,
                describe_exception(exc),
            )

    async def _fetch_handles(self) -> None:
        """Replace result handles by their values before the executor goes."""
        for pid, value in list(self.results.items()):
            if not isinstance(value, ResultHandle):
                continue
            try:
                self.results[pid] = await value.fetch()
            except Exception as exc:
                log.warning(
                    "execution %s: the result of phase %r could not be fetched: %s",
                    self.state.id,
                    pid,
                    describe_exception(exc),
                )

    async def _schedule(self) -> None:
        phases = self.workflow.phases
        children: dict[str, list[str]] = {pid: [] for pid in phases}
        waiting: dict[str, int] = {}
        for phase in phases.values():
            for dep in phase.after:
                children[dep].append(phase.id)
        self._order = self.workflow.topological_order()
        selected = self.plan.selected if self.plan else None
        for pid in self._order:
            if selected is not None and pid not in selected:
                continue
            if self.state.phases[pid]["status"] in self.rerun:
                waiting[pid] = sum(
                    self.state.phases[dep]["status"] not in DONE
                    for dep in phases[pid].after
                )
        ready = deque(pid for pid, count in waiting.items() if count == 0)
        for pid in ready:
            self._event(pid, "queued", self.state.phases[pid]["attempt"])
        running: dict[asyncio.Task[Any], str] = {}
        try:
            while ready or running:
                while ready and len(running) < self.max_parallel:
                    pid = ready.popleft()
                    running[asyncio.ensure_future(self._run_phase(pid))] = pid
                finished, _ = await asyncio.wait(running, return_when="FIRST_COMPLETED")
                for task in finished:
                    pid = running.pop(task)
                    if task.result():
                        for child in children[pid]:
                            if child not in waiting:
                                continue
                            waiting[child] -= 1
                            if waiting[child] == 0:
                                ready.append(child)
                                self._event(
                                    child, "queued", self.state.phases[child]["attempt"]
                                )
                    else:
                        self._skip_downstream(pid, waiting)
        finally:
            await _cancel_all(running)
        failed = [
            pid for pid, p in self.state.phases.items() if p["status"] == "failed"
        ]
        if failed:
            error = (
                f"phase {failed[0]!r} failed: {self.state.phases[failed[0]]['error']}"
            )
            self._event(None, "failed", error=error, failed_phase=failed[0])
        else:
            self._event(None, "completed")

    def _skip_downstream(self, failed_id: str, waiting: dict[str, int]) -> None:
        downstream = self.workflow.downstream(failed_id)
        for pid in self._order:
            if pid in downstream and pid in waiting:
                del waiting[pid]
                attempt = self.state.phases[pid]["attempt"]
                error = f"upstream phase {failed_id!r} failed"
                self._event(pid, "skipped", attempt, error=error)

    async def _run_phase(self, pid: str) -> bool:
        """Run a phase with its retries; return True when it completed."""
        phase = self.workflow.phases[pid]
        missing = [dep for dep in phase.after if dep not in self.results]
        if missing and phase.kind == "python":
            error = (
                f"the result of upstream phase {missing[0]!r} was not kept (not JSON, "
                "or over 64 KiB) and the run was resumed; start a new execution"
            )
            self._event(pid, "failed", self.state.phases[pid]["attempt"], error=error)
            return False
        upstream = {dep: self.results.get(dep) for dep in phase.after}
        attempt = self.state.phases[pid]["attempt"]
        key = None
        if self._keys is not None:
            # Off the loop: hashing reads files, imports refs, pickles results.
            key = await asyncio.to_thread(self._key, pid)
        if (
            key is not None
            and pid in self._cacheable
            and await self._from_cache(pid, key, attempt)
        ):
            return True
        for retry in range(phase.retries + 1):
            attempt += 1
            self._event(pid, "running", attempt)
            try:
                coro = run_phase_code(
                    phase, self._executor, upstream, f"{self.state.id}:{pid}", attempt
                )
                result, output = await asyncio.wait_for(_guarded(coro), phase.timeout_s)
            except Exception as exc:
                error = _describe(exc, phase.timeout_s)
                output = exc.output if isinstance(exc, PhaseFailed) else None
                tail = {"output": output} if output else {}
                if isinstance(exc, PhaseFailed):
                    tail.update(exc.extra)
                if retry == phase.retries:
                    self._event(pid, "failed", attempt, error=error, **tail)
                    return False
                delay = min(self.retry_backoff_s * 2**retry, self.max_backoff_s)
                self._event(
                    pid,
                    "queued",
                    attempt,
                    error=error,
                    reason="retry",
                    retry_in_s=delay,
                    **tail,
                )
                await asyncio.sleep(delay)
                continue
            self.results[pid] = result
            extra: dict[str, Any] = {"output": output} if output else {}
            if phase.kind == "notebook" and isinstance(result, dict):
                extra["executed_path"] = result.get("executed_path")
            if self.keep_results:
                extra.update(await self._kept(pid, result))
            if key is not None and self._cache is not None:
                self._cache.record(key, self.state.id, result)
                # A store keeps the entry only with a result it can give back.
                if phase.kind != "python" or "result" in extra:
                    extra["cache_key"] = key
            self._event(pid, "completed", attempt, **extra)
            return True
        return False

    def _key(self, pid: str) -> str:
        """The phase's content hash, from its upstream phases' keys and results.

        Runs on a worker thread; keys of phases already done are read here as
        the loop adds others (each is written once, by its own phase).
        """
        assert self._keys is not None
        key = self._keys.get(pid)
        if key is None:
            phase = self.workflow.phases[pid]
            upstream = []
            for dep in phase.after:
                kind = self.workflow.phases[dep].kind
                # Only python phases hand on a result; a missing one is unknown.
                digest = None
                if kind == "python":
                    value = self.results.get(dep, _MISSING)
                    unknown = value is _MISSING or isinstance(value, ResultHandle)
                    # Unknown: never equal to anything, so nothing below is cached.
                    digest = f"unknown:{uuid.uuid4().hex}" if unknown else None
                    digest = digest or result_digest(value)
                upstream.append((dep, self._key(dep), digest))
            key = self._keys[pid] = phase_key(phase, upstream)
        return key

    async def _from_cache(self, pid: str, key: str, attempt: int) -> bool:
        """Skip the phase as `cached` when an earlier run with `key` is found."""
        assert self._cache is not None
        try:
            hit = await self._cache.lookup(key)
        except Exception as exc:
            log.warning(
                "execution %s: the cache could not be read for phase %r: %s",
                self.state.id,
                pid,
                describe_exception(exc),
            )
            return False
        if hit is None:
            return False
        self.results[pid] = hit.result
        extra: dict[str, Any] = {"from_execution": hit.execution_id, "cache_key": key}
        if self.keep_results:
            extra.update(_kept(hit.result))
        self._event(pid, "cached", attempt, **extra)
        return True

    async def _kept(self, pid: str, result: Any) -> dict[str, Any]:
        if not isinstance(result, ResultHandle):
            return _kept(result)
        try:
            kept, value = await asyncio.wait_for(
                result.fetch_json(MAX_KEPT_RESULT_BYTES), KEEP_CHECK_TIMEOUT_S
            )
        except Exception as exc:
            log.warning(
                "execution %s: the result of phase %r could not be checked for "
                "keeping: %s",
                self.state.id,
                pid,
                describe_exception(exc),
            )
            return {}
        return {"result": value} if kept else {}

    def _finish_cancelled(self) -> None:
        for pid, phase in self.state.phases.items():
            if phase["status"] in ("pending", "queued", "running"):
                self._event(pid, "cancelled", phase["attempt"], error="cancelled")
        self._event(None, "cancelled", error="cancelled by request")

    def finish_failed_internally(self, exc: BaseException) -> None:
        """End the execution as failed after an error of the runner itself."""
        message = f"internal error: {describe_exception(exc)}"
        for pid, phase in self.state.phases.items():
            if phase["status"] in ("pending", "queued", "running"):
                self._event(pid, "cancelled", phase["attempt"], error=message)
        self._event(None, "failed", error=message)


async def _cancel_all(tasks: dict[asyncio.Task[Any], str]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _guarded(awaitable: Awaitable[T]) -> T:
    """Turn what phase code raises beyond `Exception` into a phase failure.

    Without this, a phase calling `sys.exit()` or raising `KeyboardInterrupt`
    would stop the whole event loop, and a coroutine raising `CancelledError`
    would pass for a cancel of the run.
    """
    try:
        return await awaitable
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise PhaseFailed("the phase raised CancelledError") from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
        raise PhaseFailed(f"the phase raised {describe_exception(exc)}") from exc


def _describe(exc: BaseException, timeout_s: float | None) -> str:
    if isinstance(exc, (asyncio.TimeoutError, PhaseTimeoutError)):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, PhaseFailed):
        return clean_text(str(exc))
    return describe_exception(exc)


def describe_exception(exc: BaseException) -> str:
    """`Type: message`, even for an exception whose `__str__` fails."""
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    if not isinstance(message, str):
        message = repr(message)
    return clean_text(f"{type(exc).__name__}: {message}")


def clean_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Text safe to store and send: valid UTF-8 and at most `limit` characters."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def _kept(result: Any) -> dict[str, Any]:
    try:
        size = len(json.dumps(result))
    except (TypeError, ValueError):
        return {}
    return {"result": result} if size <= MAX_KEPT_RESULT_BYTES else {}
