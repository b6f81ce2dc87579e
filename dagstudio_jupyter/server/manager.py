"""`ExecutionManager`: the runs submitted to the server, their store and listeners."""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._cache import StoreCache, force_set
from .._json import short_repr
from .._state import EXECUTION_STATUSES, EXECUTION_TERMINAL, ExecutionState
from ..errors import ConflictError, DagStudioError, InvalidWorkflowError, NotFoundError
from ..executors import Executor, make_executor
from ..rerun import DONE, RerunPlan, plan_rerun
from ..runner import RERUN_ALL, Event, Runner, new_execution_id
from ..store import DagStore
from ..workflow import Workflow
from .metrics import EXECUTIONS, PHASE_DURATION

log = logging.getLogger(__name__)
T = TypeVar("T")
Listener = Callable[[list[Event]], None]
# Called with the execution as it was just before it was deleted.
DeletionListener = Callable[[Mapping[str, Any]], None]
RUN_OPTIONS: dict[str, Any] = {
    "max_parallel": int,
    "retry_backoff_s": (int, float),
    "cache": bool,
    "force": (bool, list),
}
ACTIVE = ("pending", "running", "interrupted")
# How many deleted executions the manager remembers for the live channel.
KEEP_DELETED = 1000
UNDER_WAY = frozenset({"pending", "queued", "running"})
# A phase event after `running` that ends the attempt, and the status the
# attempt is measured under: `queued` is a failed attempt about to be retried.
ATTEMPT_ENDS = {
    "completed": "completed",
    "failed": "failed",
    "queued": "failed",
    "cancelled": "cancelled",
}


class StoreUnavailableError(DagStudioError):
    """The store could not be opened; endpoints answer 503 with this text."""


class BadRequestError(DagStudioError, ValueError):
    """A request whose body or parameters are malformed."""


class ExecutionManager:
    """Starts, tracks, cancels and resumes the server's executions.

    The store is blocking (DuckDB), so every call to it runs on a worker
    thread. Committed events arrive on the store's writer thread and are
    handed to listeners on the server's event loop.

    Metrics: the `dagstudio_executions` gauge is counted from the store once,
    when the manager is made, then moved by every change made here (submit,
    the runners' execution events, delete); `dagstudio_phase_duration_seconds`
    gets one observation when a phase attempt ends. Known limitation: both
    follow the events as emitted, so a group of events the store fails to
    commit (logged as an error) leaves the gauge ahead of the store until the
    next start; an attempt under way when the server stops is never
    observed, and its rerun after recovery is.
    """

    def __init__(
        self,
        store: DagStore | None,
        *,
        root_dir: str | Path = ".",
        max_parallel: int = 4,
        executor: str | Executor = "thread",
        dask_address: str = "",
        store_error: str | None = None,
    ) -> None:
        self.store = store
        self.store_error = store_error
        self.root_dir = Path(root_dir).resolve()
        self.max_parallel = max_parallel
        self.executor = executor
        # Thread pools stay per run; a process pool or a Dask cluster is one for
        # the server, started on first use and closed at shutdown.
        self._shared_executor: Executor | None = None
        # Executions between a retry's checks and its runner's start.
        self._retrying: set[str] = set()
        # Owners of the latest deleted executions, oldest first.
        self._deleted: collections.OrderedDict[str, str | None] = (
            collections.OrderedDict()
        )
        if executor == "dask":
            self._shared_executor = make_executor("dask", address=dask_address or None)
        elif executor == "process":
            self._shared_executor = make_executor("process")
        self.runners: dict[str, tuple[Runner, asyncio.Task[Any]]] = {}
        # Owner of each execution seen, so live fan-out needs no store read.
        self.owners: dict[str, str | None] = {}
        self._listeners: list[Listener] = []
        self._deletion_listeners: list[DeletionListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._store_calls: set[asyncio.Future[Any]] = set()
        self.closing = False
        # Status of each execution with a runner, as the gauge counts it.
        self._statuses: dict[str, str] = {}
        # When each running phase attempt started (monotonic), per execution.
        self._attempt_starts: dict[str, dict[str, float]] = {}
        if store is not None:
            self._count_executions(store)
        # Python refs are imported the way a notebook in the root would import
        # them: modules beside the server's notebooks are found.
        if str(self.root_dir) not in sys.path:
            sys.path.append(str(self.root_dir))

    @staticmethod
    def _count_executions(store: DagStore) -> None:
        """Set the executions gauge from the store, every status included.

        Blocking, but done once, while the server starts and before it runs
        anything; the gauge is then kept current without reading the store.
        """
        try:
            counts = {
                status: len(store.executions_with_status(status))
                for status in sorted(EXECUTION_STATUSES)
            }
        except Exception:  # a metric must not keep the server from starting
            log.exception("the executions gauge could not be counted from the store")
            return
        for status, count in counts.items():
            EXECUTIONS.labels(status=status).set(count)

    def start(self) -> None:
        """Begin forwarding committed events; call on the server's loop.

        Safe to call again; the first listener calls it too, for servers
        that never run the extension's start hook.
        """
        self._loop = asyncio.get_running_loop()
        if self.store is not None and self._unsubscribe is None:
            self._unsubscribe = self.store.subscribe(self._on_commit)

    def _on_commit(self, events: list[Event]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._dispatch, events)

    def _dispatch(self, events: list[Event]) -> None:
        for listener in list(self._listeners):
            try:
                listener(events)
            except Exception:
                log.exception("a live listener failed and was dropped")
                self.remove_listener(listener)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` on the loop with every committed batch of events."""
        self.start()
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling `listener`; one never added is ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add_deletion_listener(self, listener: DeletionListener) -> None:
        """Call `listener` on the loop with each execution once it is deleted."""
        self._deletion_listeners.append(listener)

    def remove_deletion_listener(self, listener: DeletionListener) -> None:
        """Stop calling `listener`; one never added is ignored."""
        if listener in self._deletion_listeners:
            self._deletion_listeners.remove(listener)

    def _announce_deletion(self, execution: Mapping[str, Any]) -> None:
        for listener in list(self._deletion_listeners):
            try:
                listener(execution)
            except Exception:
                log.exception("a deletion listener failed and was dropped")
                self.remove_deletion_listener(listener)

    async def active_ids(self) -> list[str]:
        """Ids of stored executions that had not finished."""
        store = self._store()
        return await self._call(store.executions_with_status, *ACTIVE)

    async def load(self, execution_id: str) -> dict[str, Any]:
        """An execution by id, whoever owns it (for the server's own use)."""
        return await self._call(self._store().get_execution, execution_id)

    def check_available(self) -> None:
        """Raise StoreUnavailableError when the store cannot serve requests."""
        self._store()

    def _store(self) -> DagStore:
        if self.store is None:
            raise StoreUnavailableError(self.store_error or "the store is not open")
        if self.closing:
            raise StoreUnavailableError("the server is shutting down")
        return self.store

    async def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(func, *args, **kwargs)
        future = loop.run_in_executor(None, call)
        # Tracked so shutdown closes the store only after reads under way end.
        self._store_calls.add(future)
        future.add_done_callback(self._store_calls.discard)
        return await future

    @staticmethod
    def visible(execution: Mapping[str, Any], user: str) -> bool:
        """Whether `user` may see `execution`: only its owner may."""
        return execution.get("owner") == user

    async def get(self, execution_id: str, user: str) -> dict[str, Any]:
        """The execution; NotFoundError when absent or not the user's."""
        store = self._store()
        try:
            execution = await self._call(store.get_execution, execution_id)
        except NotFoundError:
            execution = None
        if execution is not None:
            self.owners[execution_id] = execution.get("owner")
        if execution is None or not self.visible(execution, user):
            # One answer for "absent" and "not yours", so ids cannot be probed.
            raise NotFoundError(f"execution {execution_id!r} not found")
        return execution

    async def list_executions(
        self,
        user: str,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The user's executions, newest first, one page at a time.

        `q` keeps those whose name, id or owner holds it, ignoring case.
        """
        store = self._store()
        try:
            return await self._call(
                store.list_executions,
                status=status,
                owner=user,
                limit=limit,
                cursor=cursor,
                q=q,
            )
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc

    async def events(
        self, execution_id: str, user: str, *, since: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Committed events of a visible execution after `since`, in order."""
        await self.get(execution_id, user)
        return await self._call(self._store().events_since, execution_id, since, limit)

    async def submit(
        self, document: Any, user: str, options: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate a workflow document, store a new execution and start it."""
        store = self._store()
        workflow = Workflow.from_dict(document)
        run_options = _run_options(options or {}, self.max_parallel, workflow)
        self._check_runnable(workflow)
        state = ExecutionState(new_execution_id(), workflow.to_dict(), owner=user)
        await self._call(store.create_execution, state.to_dict())
        EXECUTIONS.labels(status=state.status).inc()
        self.owners[state.id] = user
        self._launch(workflow, state, {}, reason=None, **run_options)
        return state.to_dict()

    async def rerun(
        self,
        execution_id: str,
        user: str,
        mode: Any,
        phase_id: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start a new execution that runs part of a finished one again.

        `mode` "phase" runs `phase_id`, "downstream" it and all below it,
        "resume" what did not complete. Upstream results come from the stored
        events of the source (JSON results up to 64 KiB are kept).
        """
        store = self._store()
        # A run that just ended may have its last events still queued: read
        # its final state, not a stale "running".
        await self._call(store.flush)
        source = await self.get(execution_id, user)
        if execution_id in self.runners:
            raise ConflictError(
                f"execution {execution_id!r} is running; wait for it to finish or"
                " cancel it before running part of it again"
            )
        workflow = Workflow.from_dict(source["workflow"])
        run_options = _run_options(options or {}, self.max_parallel, workflow)
        results = _results(await self._call(store.events_since, execution_id, 0))
        try:
            plan = plan_rerun(workflow, source, results, mode, phase_id)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
        self._check_runnable(workflow)
        state = ExecutionState(
            new_execution_id(),
            workflow.to_dict(),
            owner=user,
            derived_from=plan.derived_from(),
        )
        await self._call(store.create_execution, state.to_dict())
        EXECUTIONS.labels(status=state.status).inc()
        self.owners[state.id] = user
        self._launch(workflow, state, {}, reason=None, plan=plan, **run_options)
        # Answer with the reused phases in place, so a page switching to the
        # new execution never shows them pending.
        await asyncio.sleep(0)
        await self._call(store.flush)
        return await self.get(state.id, user)

    def _check_runnable(self, workflow: Workflow) -> None:
        """Refuse phases the server cannot run, before anything is stored."""
        for phase in workflow.phases.values():
            if phase.path is not None:
                phase.path = str(self._inside_root(phase.path, phase.id, "path"))
            if phase.cwd is not None:
                phase.cwd = str(self._inside_root(phase.cwd, phase.id, "cwd"))
            elif phase.kind in ("shell", "script"):
                # A notebook's kernel starts in the notebook's folder instead.
                phase.cwd = str(self.root_dir)

    def _inside_root(self, value: str, phase_id: str, field: str) -> Path:
        path = (self.root_dir / value).resolve()
        if not path.is_relative_to(self.root_dir):
            raise InvalidWorkflowError(
                f"phase {short_repr(phase_id)}: {field} {short_repr(value)} is outside"
                " the server's root"
            )
        return path

    def _launch(
        self,
        workflow: Workflow,
        state: ExecutionState,
        results: dict[str, Any],
        *,
        reason: str | None,
        max_parallel: int | None = None,
        retry_backoff_s: float = 0.5,
        rerun: frozenset[str] = RERUN_ALL,
        plan: RerunPlan | None = None,
        cache: bool = False,
        force: frozenset[str] = frozenset(),
    ) -> None:
        if self.closing:
            raise StoreUnavailableError("the server is shutting down")
        runner = Runner(
            workflow,
            emit=self._emit,
            state=state,
            results=results,
            max_parallel=max_parallel or self.max_parallel,
            executor=self._shared_executor or self.executor,
            retry_backoff_s=retry_backoff_s,
            keep_results=True,
            rerun=rerun,
            plan=plan,
            cache=StoreCache(self._store(), state.owner, self._call),
            cache_default=cache,
            force=force,
        )
        task = asyncio.ensure_future(runner.run(reason=reason))
        self.runners[state.id] = (runner, task)
        # The gauge counts the execution under its stored status until the
        # runner's first event moves it.
        self._statuses[state.id] = state.status
        task.add_done_callback(lambda _: self._runner_done(state.id))

    def _runner_done(self, execution_id: str) -> None:
        self.runners.pop(execution_id, None)
        self._statuses.pop(execution_id, None)
        self._attempt_starts.pop(execution_id, None)

    def _emit(self, event: Event) -> None:
        self._store().append_events([event])
        self._measure(event)

    def _measure(self, event: Event) -> None:
        """Move the executions gauge; time phase attempts."""
        execution_id, status = event["execution_id"], event["status"]
        phase_id = event.get("phase_id")
        if phase_id is None:
            before = self._statuses.get(execution_id)
            if before != status:
                if before is not None:
                    EXECUTIONS.labels(status=before).dec()
                EXECUTIONS.labels(status=status).inc()
                self._statuses[execution_id] = status
            return
        starts = self._attempt_starts.setdefault(execution_id, {})
        if status == "running":
            starts[phase_id] = time.monotonic()
        elif status in ATTEMPT_ENDS and phase_id in starts:
            seconds = time.monotonic() - starts.pop(phase_id)
            PHASE_DURATION.labels(status=ATTEMPT_ENDS[status]).observe(seconds)

    async def cancel(self, execution_id: str, user: str) -> dict[str, Any]:
        """Cancel a running execution; 409 when it has already finished."""
        execution = await self.get(execution_id, user)
        entry = self.runners.get(execution_id)
        if entry is None:
            # The runner may just have ended (a concurrent cancel) with its last
            # events not yet committed: read the final status, not a stale one.
            await self._call(self._store().flush)
            execution = await self.get(execution_id, user)
        status = execution["status"]
        if status in EXECUTION_TERMINAL:
            raise ConflictError(f"execution {execution_id!r} is {status}, not running")
        if entry is None:
            # Stored as under way, but no runner here (one being recovered).
            raise ConflictError(
                f"execution {execution_id!r} is not running on this server"
            )
        runner, task = entry
        runner.cancel()
        await asyncio.wait({task}, timeout=10)
        await self._call(self._store().flush)
        return await self.get(execution_id, user)

    async def retry(self, execution_id: str, user: str) -> dict[str, Any]:
        """Run the failed, cancelled and skipped phases of a finished execution."""
        execution = await self.get(execution_id, user)
        if execution_id in self.runners or execution_id in self._retrying:
            # Concurrent retries all read "failed" before any runner starts:
            # only the first may start one, or the phases would run twice.
            raise ConflictError(f"execution {execution_id!r} is running again already")
        if execution["status"] not in ("failed", "cancelled"):
            raise ConflictError(
                f"execution {execution_id!r} is {execution['status']}; only a failed "
                "or cancelled execution can be retried"
            )
        self._retrying.add(execution_id)
        try:
            await self.resume(execution, reason="retry")
        finally:
            self._retrying.discard(execution_id)
        # Answer with the execution as running again, not as the failed one.
        await asyncio.sleep(0)
        await self._call(self._store().flush)
        return await self.get(execution_id, user)

    async def delete(self, execution_id: str, user: str) -> None:
        """Forget a finished execution; 409 while it runs.

        Deletion listeners hear of it once the store has forgotten it.
        """
        execution = await self.get(execution_id, user)
        if execution_id in self.runners:
            raise ConflictError(
                f"execution {execution_id!r} is running; cancel it first"
            )
        store = self._store()
        # Committed events are handed to live listeners before this returns,
        # so no events frame of the execution can follow its deletion.
        await self._call(store.flush)
        # Read again: the status read above may predate the run's last events,
        # and the gauge must lose the execution under its final status.
        execution = await self._call(store.get_execution, execution_id)
        if execution_id in self.runners:  # retried meanwhile
            raise ConflictError(
                f"execution {execution_id!r} is running; cancel it first"
            )
        # Noted before the store forgets it: a subscription that finds it gone
        # from here on is told it was deleted (see `deleted_for`).
        self._deleted[execution_id] = execution.get("owner")
        while len(self._deleted) > KEEP_DELETED:
            self._deleted.popitem(last=False)
        try:
            await self._call(store.delete_execution, execution_id)
        except BaseException:
            self._deleted.pop(execution_id, None)
            raise
        EXECUTIONS.labels(status=execution["status"]).dec()
        self.owners.pop(execution_id, None)
        self._announce_deletion(execution)

    def deleted_for(self, execution_id: str, user: str) -> bool:
        """Whether `user` deleted `execution_id` lately (since this start).

        Lets the live channel answer a subscription that races a deletion,
        or comes after it, with `deleted` rather than closing the socket; only
        for the user's own executions, so nothing is told of others'.
        """
        if execution_id not in self._deleted:
            return False
        return self.visible({"owner": self._deleted[execution_id]}, user)

    async def resume(self, execution: dict[str, Any], *, reason: str) -> None:
        """Run an execution again from its stored state (retry or recovery)."""
        workflow = Workflow.from_dict(execution["workflow"])
        state = ExecutionState.from_dict(execution)
        self.owners[state.id] = state.owner
        events = await self._call(self._store().events_since, state.id, 0)
        results = _results(events)
        # A retry runs failed, cancelled and skipped phases again; a recovery
        # only what was under way, so a failure before the restart stands.
        rerun = RERUN_ALL if reason == "retry" else UNDER_WAY
        self._launch(workflow, state, results, reason=reason, rerun=rerun)

    async def shutdown(self) -> None:
        """Stop runners without marking them finished, so a restart resumes them."""
        self.closing = True
        tasks = [task for _, task in self.runners.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._store_calls:
            await asyncio.gather(*self._store_calls, return_exceptions=True)
        if self._shared_executor is not None:
            await self._shared_executor.aclose()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.store.close)


def _results(events: list[Event]) -> dict[str, Any]:
    """Results kept on an execution's events, by phase id."""
    return {
        e["phase_id"]: e["result"]
        for e in events
        if e.get("phase_id") and e["status"] in DONE and "result" in e
    }


def _run_options(
    options: Mapping[str, Any], default_parallel: int, workflow: Workflow
) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise BadRequestError("'options' must be a JSON object")
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise BadRequestError(
            f"unknown option(s) {short_repr(unknown)}; expected some of"
            f" {sorted(RUN_OPTIONS)}"
        )
    for key, kind in RUN_OPTIONS.items():
        value = options.get(key)
        if value is None or kind == (bool, list):
            continue
        if kind is bool and not isinstance(value, bool):
            raise BadRequestError(
                f"option {key!r} must be true or false, got {short_repr(value)}"
            )
        if kind is not bool and (
            isinstance(value, bool) or not isinstance(value, kind)
        ):
            what = "a whole number" if kind is int else "a number"
            raise BadRequestError(
                f"option {key!r} must be {what}, got {short_repr(value)}"
            )
    # null means the default, as a missing option does.
    parallel = options.get("max_parallel")
    parallel = default_parallel if parallel is None else parallel
    if not 1 <= parallel <= 1024:
        raise BadRequestError(
            f"option 'max_parallel' must be 1 to 1024, got {parallel}"
        )
    backoff = options.get("retry_backoff_s")
    backoff = 0.5 if backoff is None else backoff
    if not 0 <= backoff <= 3600:
        raise BadRequestError(
            f"option 'retry_backoff_s' must be 0 to 3600, got {backoff}"
        )
    force = options.get("force")
    if isinstance(force, list) and not all(isinstance(pid, str) for pid in force):
        raise BadRequestError("option 'force' must be true or a list of phase ids")
    try:
        forced = force_set(force, list(workflow.phases))
    except ValueError as exc:
        raise BadRequestError(f"option {exc}") from None
    return {
        "max_parallel": parallel,
        "retry_backoff_s": float(backoff),
        "cache": bool(options.get("cache") or False),
        "force": forced,
    }
