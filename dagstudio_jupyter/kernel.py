"""Kernel runs: a workflow run on a background thread of the notebook's kernel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from ._cache import KERNEL_CACHE, ChainCache, PhaseCache, StoreCache, force_set
from .errors import DagStudioError
from .executors import Executor, ResultHandle
from .rerun import RerunPlan, plan_rerun
from .runner import Event, Runner
from .store import DagStore, DuckDBStore

if TYPE_CHECKING:
    from .widget import DagWidget
    from .workflow import Workflow

log = logging.getLogger(__name__)


class Run:
    """One execution of a workflow in this process.

    The runner has its own event loop on a background thread, so the kernel
    stays free to answer the widget (its Cancel button) while phases run.
    Events go to the store; the widget follows what the store commits. A
    store the run opens itself (from a path, or in memory by default) is
    closed when the run ends; `execution()` and `events()` keep answering.

    With a `DaskExecutor` instance, results stay on its cluster after the
    run and `result()` fetches them when asked; the run's thread and its
    Dask client live on until `close()` (or the `with` block's end) releases
    them. With `executor="dask"` the cluster is the run's own: it closes when
    the run ends, and the results are fetched just before.

    `cache=True` lets unchanged phases be skipped as `cached` (their results
    are kept in this kernel's memory, see the README); `force` names phases
    that run anyway (or `True` for all). `rerun` and `resume` start a new run
    derived from this one.
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        widget: DagWidget | None = None,
        store: DagStore | str | os.PathLike[str] | None = None,
        max_parallel: int = 4,
        executor: Executor | str | None = None,
        retry_backoff_s: float = 0.5,
        owner: str | None = None,
        cache: bool = False,
        force: Any = None,
        plan: RerunPlan | None = None,
    ) -> None:
        self.workflow = workflow.validate()
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be True or False, got {cache!r}")
        try:
            forced = force_set(force, list(self.workflow.phases))
        except ValueError as exc:
            raise DagStudioError(str(exc)) from None
        self.widget = widget
        #: The run this one was derived from (`rerun`, `resume`), if any.
        self.source: Run | None = None
        self._options: dict[str, Any] = {
            "max_parallel": max_parallel,
            "executor": executor,
            "retry_backoff_s": retry_backoff_s,
            "owner": owner,
            "cache": cache,
        }
        self._owns_store = not isinstance(store, DagStore)
        self.store: DagStore = (
            store if isinstance(store, DagStore) else DuckDBStore(store or ":memory:")
        )
        self._on_file = getattr(self.store, "path", ":memory:") != ":memory:"
        self.runner = Runner(
            workflow,
            emit=self._emit,
            owner=owner or _user_name(),
            max_parallel=max_parallel,
            executor=executor,
            retry_backoff_s=retry_backoff_s,
            plan=plan,
            cache=self._phase_cache(owner or _user_name()),
            cache_default=cache,
            force=forced,
            # On a store file, small JSON results go with their events, so the
            # file's cache can give them back to a later process.
            keep_results=self._on_file,
        )
        self.id = self.runner.execution_id
        self.store.create_execution(self.runner.state.to_dict())
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._done = threading.Event()
        self._final: tuple[dict[str, Any], list[Event]] | None = None
        self._settled = False
        # A given executor may hold results on a cluster, kept until close().
        self._holds_executor = isinstance(executor, Executor)
        self._closing: asyncio.Future[None] | None = None
        if widget is not None:
            widget.follow(self)

    def _phase_cache(self, owner: str | None) -> PhaseCache:
        """The kernel's memory, then the store file when there is one."""
        if not self._on_file:
            return KERNEL_CACHE
        return ChainCache(
            KERNEL_CACHE, StoreCache(self.store, owner, asyncio.to_thread)
        )

    def __repr__(self) -> str:
        error = f", error={self.error!r}" if self.error else ""
        return f"<Run {self.workflow.id!r} {self.id[:8]} {self.status}{error}>"

    def _emit(self, event: Event) -> None:
        self.store.append_events([event])

    def start(self) -> Run:
        """Start the run on its own thread; return self at once."""
        if self._thread is not None:
            raise RuntimeError(f"run {self.id} was already started")
        self._thread = threading.Thread(
            target=self._main, name=f"dagstudio-run-{self.id[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._loop_ready.set()
        try:
            loop.run_until_complete(self._drive(loop))
        except BaseException as exc:
            # Never leave the execution "running" after its thread has ended.
            log.exception("run %s stopped unexpectedly", self.id)
            if not self.runner.state.finished:
                self.runner.finish_failed_internally(exc)
        finally:
            self._settle()
            loop.close()
            self._done.set()

    async def _drive(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._holds_executor:
            await self.runner.run()
            return
        executor = self.runner.executor
        await executor.acquire()
        try:
            await self.runner.run()
            if any(isinstance(v, ResultHandle) for v in self.runner.results.values()):
                # The run is over for everyone; its loop stays to fetch results.
                self._closing = loop.create_future()
                self._settle()
                self._done.set()
                await self._closing
        finally:
            await executor.release()

    def _settle(self) -> None:
        """Commit the run's events; close the store when the run opened it."""
        if self._settled:
            return
        self._settled = True
        self.store.flush()
        if self._owns_store:
            # A store this run opened is closed with it, so no thread or file
            # lock outlives the run; what it holds stays readable here.
            execution = self.store.get_execution(self.id)
            self._final = (execution, self.store.events_since(self.id))
            self.store.close()

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends (or `timeout` passes); return self.

        Interrupting the kernel while waiting cancels the run.
        """
        try:
            self._done.wait(timeout)
        except KeyboardInterrupt:
            self.cancel()
            self._done.wait(30)
            raise
        return self

    def cancel(self) -> None:
        """Ask the run to stop; phases not yet finished end as cancelled."""
        self._loop_ready.wait(5)
        if self._loop is not None and not self._done.is_set():
            self._loop.call_soon_threadsafe(self.runner.cancel)

    @property
    def done(self) -> bool:
        """True once the run ended and its events are committed."""
        return self._done.is_set()

    @property
    def status(self) -> str:
        """The execution status: pending, running, completed, failed or cancelled."""
        return self.runner.state.status

    @property
    def error(self) -> str | None:
        """Why the run failed or was cancelled, naming the phase."""
        return self.runner.state.error

    @property
    def results(self) -> dict[str, Any]:
        """Results of completed phases, by phase id (fetched from a cluster)."""
        results = self.runner.results
        if not any(isinstance(v, ResultHandle) for v in results.values()):
            return results
        return {phase_id: self.result(phase_id) for phase_id in list(results)}

    def result(self, phase_id: str) -> Any:
        """The result of one completed phase, fetched if it is on a cluster."""
        self.workflow[phase_id]
        if phase_id not in self.runner.results:
            status = self.runner.state.phases[phase_id]["status"]
            raise KeyError(f"phase {phase_id!r} has no result (status {status})")
        value = self.runner.results[phase_id]
        if isinstance(value, ResultHandle):
            try:
                return value.result()
            except DagStudioError as exc:
                raise DagStudioError(f"phase {phase_id!r}: {exc}") from exc
        return value

    def close(self) -> None:
        """Release results kept on a cluster and end the run's thread.

        A run still going is cancelled first. Results of a `DaskExecutor` are
        gone afterwards; other results stay readable.
        """
        if self._thread is None:
            return
        if not self._done.is_set():
            self.cancel()
            self._done.wait(30)
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(_settle_future, closing)
        self._thread.join(30)

    def rerun(
        self,
        phase_id: str,
        *,
        downstream: bool = False,
        workflow: Workflow | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Run:
        """Run one phase again (with `downstream=True`, and all below it).

        A new run, derived from this finished one: upstream results come from
        here, phases outside the selection keep their status and result.
        `workflow` may be an edited version with the same phase ids (changed
        code or params); the run starts from it. The new run is shown by this
        run's widget, and waited for unless `wait=False`. Options are those
        of `Workflow.start`; the store, executor and `cache` default to this
        run's.
        """
        mode = "downstream" if downstream else "phase"
        return self._derive(mode, phase_id, workflow, wait, options)

    def resume(
        self,
        *,
        workflow: Workflow | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Run:
        """Run what did not complete in this failed or cancelled run, as a new run.

        Completed phases keep their results. Given an edited `workflow`, a
        phase whose definition changed (its params, command, ref...) runs
        again too, with every phase below it; see `rerun` for the options.
        """
        return self._derive("resume", None, workflow, wait, options)

    def _derive(
        self,
        mode: str,
        phase_id: str | None,
        workflow: Workflow | None,
        wait: bool,
        options: dict[str, Any],
    ) -> Run:
        if not self.done:
            raise DagStudioError(
                f"run {self.id} is {self.status}; wait for it to finish or cancel"
                " it before running part of it again"
            )
        from .workflow import Workflow

        if workflow is not None and not isinstance(workflow, Workflow):
            raise TypeError(
                f"workflow must be a Workflow, got {type(workflow).__name__}"
            )
        workflow = (workflow or self.workflow).validate()
        results = self._results_to_hand_on()
        plan = plan_rerun(
            workflow, self.execution(), results, mode, phase_id, before=self.workflow
        )
        # The widget still showing this run goes on to the new one.
        widget = self.widget
        if "widget" not in options and widget is not None and widget.shows(self):
            options["widget"] = widget
        if "store" not in options and not self._owns_store:
            options["store"] = self.store
        for name in ("max_parallel", "executor", "retry_backoff_s", "owner", "cache"):
            options.setdefault(name, self._options[name])
        run = Run(workflow, plan=plan, **options)
        run.source = self
        run.start()
        return run.wait() if wait else run

    def _results_to_hand_on(self) -> dict[str, Any]:
        """This run's results as values: those left on a cluster are fetched.

        A handle belongs to this run's event loop; a derived run has its own.
        A result that can no longer be fetched is left out (the re-run says so
        if it needs it).
        """
        results: dict[str, Any] = {}
        for pid, value in self.runner.results.items():
            if not isinstance(value, ResultHandle):
                results[pid] = value
                continue
            try:
                results[pid] = value.result()
            except Exception as exc:
                log.warning("run %s: result of %r not fetched: %s", self.id, pid, exc)
        return results

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def phases(self) -> dict[str, dict[str, Any]]:
        """Each phase's status, attempt, times and error, by phase id."""
        return {pid: dict(p) for pid, p in self.runner.state.phases.items()}

    def execution(self) -> dict[str, Any]:
        """The execution document as the store holds it."""
        if self._final is not None:
            return self._final[0]
        return self.store.get_execution(self.id)

    def events(self, since: int = 0) -> list[Event]:
        """The committed events of this run after `since`, in order."""
        if self._final is not None:
            return [event for event in self._final[1] if event["seq"] > since]
        return self.store.events_since(self.id, since)


def _settle_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _user_name() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # getuser raises a bare OSError/KeyError in containers
        return None
