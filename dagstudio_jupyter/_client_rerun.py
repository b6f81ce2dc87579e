"""Derived server executions: run a phase, a phase and its downstream, or resume.

`RerunCalls` gives `Client` its `rerun` and `resume` requests and
`DerivedRuns` gives `ServerRun` the same two methods, which return a new
`ServerRun` for the derived execution. The helpers here also shape the run
options (`cache`, `force`) as the server takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from .client import Client, ServerRun

MODE_TEXT = {"phase": "ran {phase}", "downstream": "ran {phase} and downstream"}


class _Requester(Protocol):
    def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]: ...


class _Followed(Protocol):
    client: Client
    id: str
    widget: Any


class RerunCalls:
    """The `rerun` and `resume` requests of `Client`."""

    def rerun(
        self: _Requester,
        execution_id: str,
        phase_id: str,
        *,
        downstream: bool = False,
        cache: bool | None = None,
        force: bool | Iterable[str] | None = None,
        max_parallel: int | None = None,
        retry_backoff_s: float | None = None,
    ) -> dict[str, Any]:
        """Start a new execution that runs `phase_id` of a finished one again.

        With `downstream=True` every phase below it runs too. Upstream results
        come from `execution_id`; its other completed phases keep their status
        and result, and the new execution's `derived_from` names it. `cache`
        lets unchanged phases be skipped as `cached`; `force` names phases
        that run anyway (True: all). Returns the new execution. The server's
        refusals raise `ServerError` with its message: 400 for an unknown
        phase or an upstream phase without a result, `ServerNotFoundError`
        for an unknown execution, `ServerConflictError` while it runs.
        """
        options = {
            "cache": cache,
            "force": force,
            "max_parallel": max_parallel,
            "retry_backoff_s": retry_backoff_s,
        }
        mode = "downstream" if downstream else "phase"
        body = rerun_body(mode, phase_id, options)
        return self._object("POST", _rerun_path(execution_id), body=body)

    def resume(
        self: _Requester,
        execution_id: str,
        *,
        cache: bool | None = None,
        force: bool | Iterable[str] | None = None,
        max_parallel: int | None = None,
        retry_backoff_s: float | None = None,
    ) -> dict[str, Any]:
        """Start a new execution that runs what did not complete in a finished one.

        Completed phases keep their results. A completed execution has nothing
        to resume: `ServerConflictError`. See `rerun` for the options.
        """
        options = {
            "cache": cache,
            "force": force,
            "max_parallel": max_parallel,
            "retry_backoff_s": retry_backoff_s,
        }
        body = rerun_body("resume", None, options)
        return self._object("POST", _rerun_path(execution_id), body=body)


class DerivedRuns:
    """The `rerun` and `resume` methods of `ServerRun`."""

    def rerun(
        self: _Followed,
        phase_id: str,
        *,
        downstream: bool = False,
        wait: bool = True,
        widget: Any = None,
        **options: Any,
    ) -> ServerRun:
        """Run one phase again (with `downstream=True`, and all below it).

        A new server execution derived from this finished one, as `Run.rerun`
        makes in the kernel: upstream results come from here, phases outside
        the selection keep their status and result. The widget following this
        run follows the new one (or `widget`, when given). Waited for unless
        `wait=False`. Options are those of `Client.rerun`.
        """
        execution = self.client.rerun(
            self.id, phase_id, downstream=downstream, **options
        )
        return _follow_derived(self, execution, widget, wait)

    def resume(
        self: _Followed, *, wait: bool = True, widget: Any = None, **options: Any
    ) -> ServerRun:
        """Run what did not complete in this failed or cancelled run, as a new run.

        Completed phases keep their results; see `rerun` for the rest.
        """
        execution = self.client.resume(self.id, **options)
        return _follow_derived(self, execution, widget, wait)


def run_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Run options as the server takes them: unset ones left out, `force` a list."""
    sent = {key: value for key, value in options.items() if value is not None}
    cache = sent.get("cache")
    if cache is not None and not isinstance(cache, bool):
        raise TypeError(f"cache must be True or False, got {cache!r}")
    force = sent.pop("force", None)
    if force is True:
        sent["force"] = True
    elif force is not None and force is not False:
        if isinstance(force, (str, bytes)) or not isinstance(force, Iterable):
            raise TypeError(f"force must be True or a list of phase ids, got {force!r}")
        ids = list(dict.fromkeys(force))
        if not all(isinstance(pid, str) for pid in ids):
            raise TypeError(f"force must be True or a list of phase ids, got {ids!r}")
        sent["force"] = ids
    return sent


def rerun_body(
    mode: str, phase_id: str | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of `POST executions/{id}/rerun`."""
    body: dict[str, Any] = {"mode": mode, "options": run_options(options)}
    if phase_id is not None:
        body["phase_id"] = phase_id
    return body


def describe_source(derived_from: Mapping[str, Any] | None) -> str:
    """`abcd1234 (ran 'b' and downstream)`; empty for an execution not derived."""
    if not derived_from:
        return ""
    source = str(derived_from.get("execution_id") or "?")[:8]
    mode = str(derived_from.get("mode"))
    text = MODE_TEXT.get(mode, "resumed" if mode == "resume" else mode)
    return f"{source} ({text.format(phase=repr(derived_from.get('phase_id')))})"


def attach_widget(run: ServerRun, widget: Any) -> None:
    """Let `widget` follow `run` when it can (`DagWidget.attach`)."""
    attach = getattr(widget, "attach", None)
    if callable(attach):
        attach(run.id, client=run.client)
        run.widget = widget


def _follow_derived(
    source: _Followed, execution: dict[str, Any], widget: Any, wait: bool
) -> ServerRun:
    from .client import ServerRun

    # A new execution: its own end is the first one among all its events.
    run = ServerRun(source.client, execution, from_start=True)
    run.source = cast("ServerRun", source)
    if widget is None and _shows(source.widget, source.id):
        widget = source.widget
    attach_widget(run, widget)
    return run.wait() if wait else run


def _shows(widget: Any, execution_id: str) -> bool:
    """Whether `widget` still follows the execution: not moved on to another one."""
    if widget is None:
        return False
    server = getattr(widget, "server", None)
    if isinstance(server, Mapping):
        return server.get("execution_id") == execution_id
    return True


def _rerun_path(execution_id: str) -> str:
    from .client import _path

    return _path(execution_id, "rerun")
