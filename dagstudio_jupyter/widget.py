"""`DagWidget`: the notebook widget that draws a workflow and follows its runs."""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anywidget
import traitlets

from ._state import ExecutionState, SeqGapError
from .errors import DagStudioError
from .rerun import NOT_SELECTED
from .workflow import Workflow

if TYPE_CHECKING:
    from .client import Client
    from .kernel import Run

STATIC = Path(__file__).parent / "static"
MAX_VIEW_KEY = 200
Event = dict[str, Any]


class DagWidget(anywidget.AnyWidget):
    """Draws a workflow as a left-to-right graph and shows each phase's state live.

    A kernel run (`follow`) is pushed from the kernel: events are coalesced,
    the model is updated at most once per `flush_interval_s`, so a fast run
    cannot flood the comm. A server run (`attach`) is followed by the
    browser itself, through the server's REST API and live channel.
    """

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    workflow = traitlets.Dict().tag(sync=True)
    execution = traitlets.Dict().tag(sync=True)
    phases = traitlets.Dict().tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)
    #: `{"execution_id": ..., "base_url": ...}` while the browser follows a
    #: server execution; empty otherwise. Holds no credential.
    server = traitlets.Dict().tag(sync=True)
    #: Names this widget within its notebook, so that the page can remember
    #: the server execution it follows (in `localStorage`, under the notebook
    #: and this key) and find it again after a refresh. Random unless given;
    #: give a fixed one (`DagWidget(wf, view_key="etl")`) for a widget made
    #: again after a kernel restart to pick up the run its forerunner showed.
    view_key = traitlets.Unicode().tag(sync=True)
    #: Identifies the notebook whose kernel made this widget: a digest of the
    #: path Jupyter gives the kernel (`JPY_SESSION_NAME`), so saved widget
    #: state does not spell out where the notebook lived. Empty outside a
    #: Jupyter session; the page then uses its own location. Known
    #: limitation: a notebook renamed or moved gets a new key, and what the
    #: page remembered under the old one is no longer found.
    notebook_key = traitlets.Unicode().tag(sync=True)

    def __init__(
        self,
        workflow: Workflow | dict[str, Any] | None = None,
        *,
        flush_interval_s: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if not (STATIC / "widget.js").exists():
            raise RuntimeError(
                "[dagstudio] the widget's front end is missing from the package "
                f"({STATIC / 'widget.js'}); reinstall dagstudio-jupyter, or in a "
                "checkout run `make build`"
            )
        # Set before the traits: a bad trait value (such as `view_key`) stops
        # `__init__` there, and `close()` still runs from `__del__`.
        self.flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._state: ExecutionState | None = None
        self._dirty: set[str] = set()
        self._execution_dirty = False
        self._toasts: list[dict[str, str]] = []
        self._timer: threading.Timer | None = None
        self._run: Run | None = None
        self._unsubscribe: Any = None
        super().__init__(**kwargs)
        if workflow is not None:
            self.workflow = _document(workflow)
        self.on_msg(self._handle_message)

    @traitlets.default("view_key")
    def _default_view_key(self) -> str:
        return secrets.token_hex(8)

    @traitlets.default("notebook_key")
    def _default_notebook_key(self) -> str:
        return _notebook_digest(os.environ.get("JPY_SESSION_NAME"))

    @traitlets.validate("view_key")
    def _check_view_key(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if not value or len(value) > MAX_VIEW_KEY:
            raise traitlets.TraitError(
                f"[dagstudio] view_key must be 1 to {MAX_VIEW_KEY} characters, "
                f"got {proposal['value']!r}"
            )
        return value

    def follow(self, run: Run) -> None:
        """Show `run` live from now on; stop following any earlier run.

        The first update already holds what the run has done (a finished run
        shows its end at once) and, for a derived run, the phases it takes
        from its source, so no node flashes back to pending.
        """
        self._stop_following()
        state = ExecutionState(
            run.id,
            run.workflow.to_dict(),
            derived_from=run.runner.state.derived_from,
        )
        _preview_plan(state, run)
        with self._lock:
            self._run = run
            self._state = state
            self._dirty.clear()
            self._toasts.clear()
        # Subscribe before reading the backlog so no commit falls in between;
        # events seen twice are ignored by ExecutionState.apply. A finished
        # run has closed the store it opened: its events are all there is.
        if not run.done:
            self._unsubscribe = run.store.subscribe(self._on_events)
        backlog = run.events()
        with self._lock:
            if self._state is not state:
                return  # followed something else meanwhile
            for event in backlog:
                state.apply(event)
            with self.hold_sync():
                self.server = {}
                self.workflow = state.workflow
                self.phases = {
                    pid: {k: v for k, v in phase.items() if k != "id"}
                    for pid, phase in state.phases.items()
                }
                self.execution = _execution_summary(state)

    def attach(self, execution_id: str, client: Client | None = None) -> None:
        """Show the server execution `execution_id`; the browser follows it.

        Stops following any kernel run, fetches the execution through
        `client` (default: `Client.from_environment()`) and sets `workflow`,
        `phases` and `execution` to the server's current state, then sets
        `server`. From then on the kernel sends nothing: the page fetches the
        execution and subscribes to the server's live channel itself, so
        updates keep coming while the kernel is busy, restarted or gone. The
        page updates its own copy of the traits (which is what JupyterLab
        saves as widget state); the kernel's copy keeps the state found here,
        so ask `client.get(execution_id)` for the current one.

        Known limitation: the page reaches the server that serves it (its
        own base URL, same origin, its login cookie). An execution on
        another server is shown as found here, and the widget's header says
        it cannot be followed.
        """
        if client is None:
            from .client import Client

            client = Client.from_environment()
        document = _execution_document(client.get(execution_id))
        state = ExecutionState.from_dict(document)
        self._stop_following()
        with self._lock:
            self._state = None
            self._dirty.clear()
            self._toasts.clear()
            with self.hold_sync():
                self.workflow = copy.deepcopy(document["workflow"])
                self.phases = {
                    pid: {k: v for k, v in phase.items() if k != "id"}
                    for pid, phase in state.phases.items()
                }
                self.execution = _execution_summary(state)
                self.server = {
                    "execution_id": state.id,
                    "base_url": _base_path(client),
                }

    def _stop_following(self) -> None:
        """Stop a kernel run's updates, pending ones included."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            self._run = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _on_events(self, events: list[Event]) -> None:
        """Fold committed events in; called from the store's writer thread."""
        with self._lock:
            state = self._state
            if state is None or self._run is None:
                return
            for event in events:
                if event["execution_id"] != state.id:
                    continue
                try:
                    self._apply(state, event)
                except SeqGapError:
                    for missed in self._run.events(state.last_seq):
                        self._apply(state, missed)
            if (self._dirty or self._execution_dirty) and self._timer is None:
                self._timer = threading.Timer(self.flush_interval_s, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def _apply(self, state: ExecutionState, event: Event) -> None:
        if not state.apply(event):
            return
        if event.get("phase_id") is None:
            self._execution_dirty = True
        else:
            self._dirty.add(event["phase_id"])
        toast = _toast_for(event)
        if toast is not None:
            self._toasts.append(toast)

    def flush(self) -> None:
        """Send what changed since the last flush to the front end now."""
        with self._lock:
            self._timer = None
            state = self._state
            if state is None:
                return
            phases = dict(self.phases)
            for pid in self._dirty:
                phases[pid] = {k: v for k, v in state.phases[pid].items() if k != "id"}
            toasts, self._toasts = self._toasts, []
            with self.hold_sync():
                if self._dirty:
                    self.phases = phases
                if self._execution_dirty:
                    self.execution = _execution_summary(state)
            self._dirty = set()
            self._execution_dirty = False
        for toast in toasts:
            self.send({"type": "toast", **toast})

    def shows(self, run: Run) -> bool:
        """Whether this widget follows `run` (and so should follow its re-runs)."""
        return self._run is run

    def _handle_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        run = self._run
        if run is None:
            return
        if kind == "cancel":
            run.cancel()
        elif kind == "rerun":
            self._rerun(run, content.get("mode"), content.get("phase_id"))
        elif kind == "follow_source":
            if run.source is not None:
                self.follow(run.source)
            else:
                self._toast("warning", "The earlier run is not in this kernel any more")

    def _rerun(self, run: Run, mode: Any, phase_id: Any) -> None:
        """Start a derived kernel run the page asked for; say why when it cannot."""
        try:
            if mode == "resume":
                run.resume(wait=False, widget=self)
            elif mode in ("phase", "downstream"):
                downstream = mode == "downstream"
                run.rerun(phase_id, downstream=downstream, wait=False, widget=self)
            else:
                raise DagStudioError(f"unknown re-run mode {mode!r}")
        except (DagStudioError, KeyError, TypeError) as exc:
            text = exc.args[0] if exc.args else str(exc)
            self._toast("error", f"Cannot run again: {text}")

    def _toast(self, level: str, text: str) -> None:
        """A toast of the kernel's own, not tied to an event."""
        toast_id = f"kernel:{secrets.token_hex(4)}"
        self.send({"type": "toast", "id": toast_id, "level": level, "text": text})

    def close(self) -> None:
        """Stop following and close the widget."""
        self._stop_following()
        super().close()


def _preview_plan(state: ExecutionState, run: Run) -> None:
    """Put a derived run's reused and skipped phases in place before its events.

    The runner emits them as its first events; showing them now keeps the
    picture of the phases that do not run from changing at all.
    """
    plan = run.runner.plan
    if plan is None:
        return
    for pid, phase in state.phases.items():
        if pid in plan.selected:
            continue
        reused = plan.reused.get(pid)
        if reused is None:
            phase.update(status="skipped", error=NOT_SELECTED)
        else:
            phase.update(
                status=reused["status"],
                attempt=reused["attempt"] or 0,
                started_at=reused["started_at"],
                finished_at=reused["finished_at"],
                from_execution=reused["from_execution"],
            )


def _notebook_digest(path: str | None) -> str:
    """A short digest naming the notebook at `path`; empty when there is none."""
    if not path:
        return ""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


def _document(workflow: Workflow | dict[str, Any]) -> dict[str, Any]:
    if isinstance(workflow, Workflow):
        return workflow.to_dict()
    return copy.deepcopy(Workflow.from_dict(workflow).to_dict())


def _execution_document(document: Any) -> dict[str, Any]:
    """Check that `Client.get` answered an execution document with its workflow."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        raise TypeError(
            "[dagstudio] expected an execution document from the client, "
            f"got {document!r}"
        )
    if not isinstance(document.get("workflow"), dict):
        raise TypeError(
            f"[dagstudio] execution {document['id']!r} came without its workflow"
        )
    return document


def _base_path(client: Any) -> str:
    """The path part of the client's server URL, such as "/" or "/user/ada/"."""
    url = getattr(client, "base_url", None) or getattr(client, "url", None) or "/"
    path = urlsplit(str(url)).path or "/"
    return path if path.endswith("/") else f"{path}/"


def _execution_summary(state: ExecutionState) -> dict[str, Any]:
    return {
        "id": state.id,
        "status": state.status,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "error": state.error,
        "last_seq": state.last_seq,
        "derived_from": state.derived_from,
    }


def _toast_for(event: Event) -> dict[str, str] | None:
    """The toast a person should see for this event, if any."""
    toast_id = f"{event['execution_id']}:{event['seq']}"
    phase_id, status = event.get("phase_id"), event["status"]
    if phase_id is None and status == "completed":
        return {"id": toast_id, "level": "success", "text": "Workflow completed"}
    if phase_id is None and status == "failed":
        reason = event.get("error") or "no reason given"
        return {"id": toast_id, "level": "error", "text": f"Workflow failed: {reason}"}
    if phase_id is None and status == "cancelled":
        return {"id": toast_id, "level": "info", "text": "Workflow cancelled"}
    if phase_id is not None and event.get("reason") == "retry":
        text = (
            f"Phase {phase_id!r} failed on attempt {event['attempt']} "
            f"({event.get('error')}); retrying in {event.get('retry_in_s', 0):g} s"
        )
        return {"id": toast_id, "level": "warning", "text": text}
    return None
