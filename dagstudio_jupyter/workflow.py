"""The `Workflow` model: a DAG of phases on networkx, with its JSON document."""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from ._json import JSONInputError, find_non_json, loads_strict, short_repr
from .errors import InvalidWorkflowError

if TYPE_CHECKING:
    from .client import Client, ServerRun
    from .kernel import Run

FORMAT = "dagstudio.workflow/1"
KINDS = ("python", "notebook", "script", "shell", "noop")
# Keyword arguments the runner hands to a python phase besides params and results.
CONTEXT_ARGS = frozenset({"idempotency_key", "attempt", "upstream", "params"})
_PHASE_KEYS = frozenset(
    {"id", "kind", "label", "after", "params", "retries", "timeout_s"}
    | {"ref", "path", "command", "group", "cwd", "env", "memory_limit_mb", "cache"}
)
# 1 TiB: beyond any machine, and far inside what setrlimit takes.
MAX_MEMORY_LIMIT_MB = 1024 * 1024
MAX_RETRIES = 100
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class Phase:
    """One node of a workflow: what to run and what it waits for."""

    id: str
    kind: str = "noop"
    label: str | None = None
    after: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    timeout_s: float | None = None
    ref: str | None = None
    path: str | None = None
    command: str | list[str] | None = None
    group: str | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Shell and script phases only: the address space (virtual memory) their
    # process may use, in MiB. Known limitation: python phases run in the
    # server's threads or a shared pool of worker processes and notebook phases
    # in a kernel, where no per-phase limit can be set, so they refuse it.
    memory_limit_mb: int | None = None
    # True: may be skipped as `cached` when its content hash is unchanged;
    # False: always runs; None: as the run's `cache` option says.
    cache: bool | None = None
    func: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    @property
    def display_label(self) -> str:
        """The label shown to people: `label`, or the id when there is none."""
        return self.label if self.label else self.id

    def to_dict(self) -> dict[str, Any]:
        """Return this phase as it appears in the workflow document."""
        doc: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "after": list(self.after),
        }
        optional = {
            "label": self.label,
            "params": self.params or None,
            "retries": self.retries or None,
            "timeout_s": self.timeout_s,
            "ref": self.ref,
            "path": self.path,
            "command": self.command,
            "group": self.group,
            "cwd": self.cwd,
            "env": self.env or None,
            "memory_limit_mb": self.memory_limit_mb,
            "cache": self.cache,
        }
        doc.update({key: value for key, value in optional.items() if value is not None})
        return doc


class Workflow:
    """A directed acyclic graph of phases.

    Build one in Python with `add` or the `phase` decorator, or load the
    versioned JSON document with `from_dict`, `from_json` or `load`.

    >>> wf = Workflow("demo")
    >>> @wf.phase()
    ... def load():
    ...     return [3, 1, 2]
    >>> @wf.phase(after=["load"])
    ... def ordered(load):
    ...     return sorted(load)
    """

    def __init__(self, id: str = "workflow", name: str | None = None) -> None:
        if not isinstance(id, str) or not id.strip() or not _encodable(id):
            raise InvalidWorkflowError(
                f"workflow id must be a non-empty string, got {short_repr(id)}"
            )
        if name is not None and (not isinstance(name, str) or not _encodable(name)):
            raise InvalidWorkflowError(
                f"workflow name must be a string, got {short_repr(name)}"
            )
        self.id = id
        self.name = name or id
        self.phases: dict[str, Phase] = {}

    def __repr__(self) -> str:
        return f"<Workflow {self.id!r}: {len(self.phases)} phases>"

    def __len__(self) -> int:
        return len(self.phases)

    def __contains__(self, phase_id: object) -> bool:
        return phase_id in self.phases

    def __getitem__(self, phase_id: str) -> Phase:
        try:
            return self.phases[phase_id]
        except KeyError:
            raise KeyError(f"workflow {self.id!r} has no phase {phase_id!r}") from None

    def add(
        self,
        id: str | Callable[..., Any],
        func: Callable[..., Any] | None = None,
        *,
        after: Iterable[str] | str = (),
        kind: str | None = None,
        label: str | None = None,
        params: Mapping[str, Any] | None = None,
        retries: int = 0,
        timeout_s: float | None = None,
        ref: str | None = None,
        path: str | os.PathLike[str] | None = None,
        command: str | list[str] | None = None,
        group: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        memory_limit_mb: int | None = None,
        cache: bool | None = None,
    ) -> Phase:
        """Add a phase and return it.

        `id` may be the callable itself, whose name then becomes the id. A
        callable receives, as keyword arguments it declares, the results of
        upstream phases named by their ids, the phase's `params`, and
        `idempotency_key`, `attempt` and `upstream` (all upstream results).
        Without a callable, `kind` is guessed from `ref`, `path` or `command`.
        `memory_limit_mb` caps the memory of a shell or script phase's process.
        `cache=True` lets an unchanged phase be skipped as cached (see the
        README), `cache=False` makes it always run; by default the run's
        `cache` option decides.
        """
        if callable(id) and func is None:
            func, id = id, getattr(id, "__name__", "")
        after_ids = [after] if isinstance(after, str) else list(after)
        if kind is None:
            kind = _guess_kind(func, ref, path, command)
        if func is not None and ref is None:
            ref = importable_ref(func)
        phase = Phase(
            id=id,  # type: ignore[arg-type]  # checked by _check_phase below
            kind=kind,
            label=label,
            after=after_ids,
            params=dict(params or {}),
            retries=retries,
            timeout_s=timeout_s,
            ref=ref,
            path=os.fspath(path) if isinstance(path, os.PathLike) else path,
            command=command,
            group=group,
            cwd=cwd,
            env=dict(env or {}),
            memory_limit_mb=memory_limit_mb,
            cache=cache,
            func=func,
        )
        _check_phase(phase, len(self.phases) + 1)
        if phase.id in self.phases:
            raise InvalidWorkflowError(
                f"duplicate phase id {phase.id!r} in workflow {self.id!r}"
            )
        self.phases[phase.id] = phase
        return phase

    def phase(self, id: Any = None, **options: Any) -> Any:
        """Decorator form of `add`; the function's name is the default id.

        Works bare (`@wf.phase`) and called (`@wf.phase(after=["load"])`).
        """
        if callable(id) and not options:
            self.add(id.__name__, id)
            return id

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(id if id is not None else func.__name__, func, **options)
            return func

        return register

    @property
    def graph(self) -> nx.DiGraph:
        """A networkx view: one node per phase id, an edge from each dependency."""
        graph = nx.DiGraph()
        for phase in self.phases.values():
            graph.add_node(phase.id, phase=phase)
        for phase in self.phases.values():
            graph.add_edges_from((dep, phase.id) for dep in phase.after)
        return graph

    def validate(self) -> Workflow:
        """Raise `InvalidWorkflowError` naming every culprit; return self if valid."""
        if not self.phases:
            raise InvalidWorkflowError(f"workflow {self.id!r} has no phases")
        problems = [
            f"phase {p.id!r} depends on unknown phase {dep!r}"
            for p in self.phases.values()
            for dep in p.after
            if dep not in self.phases
        ]
        if problems:
            raise InvalidWorkflowError("; ".join(problems))
        graph = self.graph
        # find_cycle is slow on large acyclic graphs, so ask the cheap question first.
        if not nx.is_directed_acyclic_graph(graph):
            cycle = [u for u, _ in nx.find_cycle(graph)]
            path = " -> ".join(repr(node) for node in [*cycle, cycle[0]])
            raise InvalidWorkflowError(f"workflow {self.id!r} has a cycle: {path}")
        for phase in self.phases.values():
            _check_signature(phase)
        return self

    def topological_order(self) -> list[str]:
        """Phase ids in an order where every phase follows its dependencies."""
        position = {phase_id: index for index, phase_id in enumerate(self.phases)}
        # Ties go to the phase added first, so the order is stable run to run.
        return list(nx.lexicographical_topological_sort(self.graph, key=position.get))

    def upstream(self, phase_id: str) -> set[str]:
        """Every phase that `phase_id` depends on, directly or not."""
        self[phase_id]
        return set(nx.ancestors(self.graph, phase_id))

    def downstream(self, phase_id: str) -> set[str]:
        """Every phase that depends on `phase_id`, directly or not."""
        self[phase_id]
        return set(nx.descendants(self.graph, phase_id))

    def to_dict(self) -> dict[str, Any]:
        """Return the versioned workflow document."""
        return {
            "format": FORMAT,
            "id": self.id,
            "name": self.name,
            "phases": [phase.to_dict() for phase in self.phases.values()],
        }

    def to_json(self, **dumps_options: Any) -> str:
        """Return the workflow document as JSON text.

        Refuses a workflow with callables defined in this kernel (a lambda, a
        function of `__main__`): the document could not run them anywhere.
        """
        local = [p.id for p in self.phases.values() if p.kind == "python" and not p.ref]
        if local:
            raise InvalidWorkflowError(
                f"phase(s) {local} run callables defined in this kernel, which a "
                "JSON document cannot hold; move them into a module and give "
                "ref='package.module:function'"
            )
        return json.dumps(self.to_dict(), ensure_ascii=False, **dumps_options)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the workflow document to a JSON file."""
        Path(path).write_text(self.to_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Workflow:
        """Load and validate a workflow document.

        The document must hold only what standard JSON can: no NaN or
        infinities, no lone surrogates, nesting at most `MAX_DEPTH` (100)
        levels deep. Anything else raises `InvalidWorkflowError`.
        """
        if not isinstance(doc, Mapping):
            raise InvalidWorkflowError(
                f"a workflow document must be a JSON object, got {type(doc).__name__}"
            )
        problem = find_non_json(doc)
        if problem:
            raise InvalidWorkflowError(f"workflow document: {problem}")
        unknown = sorted(set(doc) - {"format", "id", "name", "phases"})
        if unknown:
            raise InvalidWorkflowError(
                f"workflow document has unknown field(s) {unknown}"
            )
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise InvalidWorkflowError(
                f"unsupported workflow format {fmt!r}; expected {FORMAT!r}"
            )
        workflow = cls(doc.get("id", "workflow"), doc.get("name"))
        phases = doc.get("phases")
        if not isinstance(phases, list):
            raise InvalidWorkflowError("workflow 'phases' must be a list of objects")
        for number, item in enumerate(phases, start=1):
            workflow.add(**_phase_options(item, number))
        return workflow.validate()

    @classmethod
    def from_json(cls, text: str | bytes) -> Workflow:
        """Load a workflow document from JSON text."""
        try:
            doc = loads_strict(text)
        except JSONInputError as exc:
            raise InvalidWorkflowError(f"workflow is not valid JSON: {exc}") from exc
        return cls.from_dict(doc)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Workflow:
        """Load a workflow document from a JSON file."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_networkx(
        cls, graph: nx.DiGraph, id: str = "workflow", name: str | None = None
    ) -> Workflow:
        """Build a workflow from a networkx DiGraph; an edge u -> v runs u first.

        Node attributes named like phase fields (`kind`, `label`, `params`,
        `retries`, `timeout_s`, `ref`, `command`, `func`, ...) are used; node
        ids that are not strings are converted with `str`.
        """
        if not graph.is_directed():
            raise InvalidWorkflowError("from_networkx needs a directed graph (DiGraph)")
        workflow = cls(id, name)
        for node, attrs in graph.nodes(data=True):
            options = {
                key: attrs[key] for key in (_PHASE_KEYS | {"func"}) if key in attrs
            }
            options.pop("id", None)
            options["after"] = [str(dep) for dep in graph.predecessors(node)]
            workflow.add(str(node), **options)
        return workflow.validate()

    def run(self, **options: Any) -> Run:
        """Run the workflow in this process and wait for it; return the `Run`.

        Takes the options of `start`. Interrupting the kernel cancels the run.
        """
        return self.start(**options).wait()

    def start(self, **options: Any) -> Run:
        """Start the workflow in a background thread and return its `Run` at once.

        Options: `widget` (a `DagWidget` to follow the run), `store` (a
        `DagStore` or a DuckDB file path; in memory by default),
        `max_parallel`, `executor` ("thread", "process", "dask" or an
        `Executor` such as `DaskExecutor(address)`), `retry_backoff_s`,
        `cache` (skip unchanged phases as cached) and `force` (phase ids, or
        True for all, that run even when cached). The `Run` has `rerun` and
        `resume` for running part of it again.
        """
        from .kernel import Run

        return Run(self, **options).start()

    def submit(
        self, client: Client | None = None, *, widget: Any = None, **options: Any
    ) -> ServerRun:
        """Run the workflow on the Jupyter server; return its `ServerRun` at once.

        The run goes on when this kernel is busy, restarted or gone. `client`
        defaults to `Client()`, which finds the server this kernel belongs to.
        Options: `max_parallel`, `retry_backoff_s`, `cache`, `force`. A
        `widget` is attached to the server run so the browser follows it.
        Phases must be kinds the server can start (a `ref`, a script, a
        notebook, a shell command).
        """
        from .client import submit_workflow

        return submit_workflow(self, client, widget=widget, **options)

    def show(self, **options: Any) -> Any:
        """Return a `DagWidget` drawing this workflow."""
        from .widget import DagWidget

        return DagWidget(self, **options)


def _guess_kind(
    func: Callable[..., Any] | None,
    ref: str | None,
    path: str | os.PathLike[str] | None,
    command: str | list[str] | None,
) -> str:
    if func is not None or ref is not None:
        return "python"
    if command is not None:
        return "shell"
    if path is not None:
        return "notebook" if os.fspath(path).endswith(".ipynb") else "script"
    return "noop"


def _check_phase(phase: Phase, number: int) -> None:
    if not isinstance(phase.id, str) or not phase.id.strip():
        raise InvalidWorkflowError(
            f"phase #{number}: id must be a non-empty string, "
            f"got {short_repr(phase.id)}"
        )
    where = f"phase {short_repr(phase.id)}"
    if phase.kind not in KINDS:
        raise InvalidWorkflowError(
            f"{where} has unknown kind {short_repr(phase.kind)}; "
            f"expected one of {', '.join(KINDS)}"
        )
    for dep in phase.after:
        if not isinstance(dep, str) or not dep:
            raise InvalidWorkflowError(
                f"{where}: 'after' holds a non-string id {short_repr(dep)}"
            )
    if phase.id in phase.after:
        raise InvalidWorkflowError(
            f"{where} depends on itself, a cycle: {phase.id!r} -> {phase.id!r}"
        )
    _check_text_fields(phase, where)
    _check_env(phase, where)
    if isinstance(phase.retries, bool) or not isinstance(phase.retries, int):
        raise InvalidWorkflowError(f"{where}: retries must be a whole number")
    if not 0 <= phase.retries <= MAX_RETRIES:
        # Unbounded, a failing phase would retry every 30 s until cancelled.
        raise InvalidWorkflowError(
            f"{where}: retries must be 0 to {MAX_RETRIES}, "
            f"got {short_repr(phase.retries)}"
        )
    if phase.timeout_s is not None and not _positive_seconds(phase.timeout_s):
        raise InvalidWorkflowError(
            f"{where}: timeout_s must be a positive number of seconds, "
            f"got {short_repr(phase.timeout_s)}"
        )
    _check_memory_limit(phase, where)
    if phase.cache is not None and not isinstance(phase.cache, bool):
        raise InvalidWorkflowError(
            f"{where}: cache must be true, false or null, got {short_repr(phase.cache)}"
        )
    _check_kind_fields(phase, where)


def _check_text_fields(phase: Phase, where: str) -> None:
    texts = {
        "id": phase.id,
        "label": phase.label,
        "ref": phase.ref,
        "path": phase.path,
        "group": phase.group,
        "cwd": phase.cwd,
    }
    for name, text in texts.items():
        if text is not None and not isinstance(text, str):
            raise InvalidWorkflowError(
                f"{where}: {name} must be a string, got {short_repr(text)}"
            )
        if text is not None and not _encodable(text):
            raise InvalidWorkflowError(f"{where}: {name} is not valid Unicode text")
    command = phase.command
    parts = command if isinstance(command, list) else [command]
    if command is not None and not all(isinstance(part, str) for part in parts):
        raise InvalidWorkflowError(
            f"{where}: 'command' must be a string or a list of strings, "
            f"got {short_repr(command)}"
        )
    if command is not None and any("\0" in part for part in parts):
        raise InvalidWorkflowError(f"{where}: 'command' must not hold NUL")
    for name in ("path", "cwd"):
        text = texts[name]
        if isinstance(text, str) and "\0" in text:
            raise InvalidWorkflowError(f"{where}: {name} must not hold NUL")


def _check_env(phase: Phase, where: str) -> None:
    bad_env = [k for k, v in phase.env.items() if not isinstance(v, str)]
    if bad_env:
        raise InvalidWorkflowError(
            f"{where}: env values must be strings; {short_repr(bad_env)} are not"
        )
    # The operating system takes neither '=' in a name nor NUL anywhere; the
    # process would only fail when the phase starts, long after the submit.
    bad_names = [
        k for k in phase.env if not isinstance(k, str) or not k or "=" in k or "\0" in k
    ]
    if bad_names:
        raise InvalidWorkflowError(
            f"{where}: env names must be non-empty strings with no '=' or NUL; "
            f"{short_repr(bad_names)} do not"
        )
    if any("\0" in value for value in phase.env.values()):
        raise InvalidWorkflowError(f"{where}: env values must not hold NUL")


def _positive_seconds(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        # Infinity, or an integer past float range, breaks timers in the runner.
        return value > 0 and math.isfinite(value)
    except OverflowError:
        return False


def _check_kind_fields(phase: Phase, where: str) -> None:
    bad_ref = not isinstance(phase.ref, str) or not _REF.match(phase.ref)
    if phase.kind == "python" and phase.func is None and bad_ref:
        raise InvalidWorkflowError(
            f"{where}: a python phase needs a callable or a 'ref' like "
            f"'package.module:function', got {short_repr(phase.ref)}"
        )
    if phase.kind == "python" and phase.func is not None and not callable(phase.func):
        raise InvalidWorkflowError(f"{where}: {short_repr(phase.func)} is not callable")
    if phase.kind in ("notebook", "script") and not phase.path:
        raise InvalidWorkflowError(f"{where}: a {phase.kind} phase needs a 'path'")
    if phase.kind == "shell":
        command = phase.command
        if isinstance(command, list):
            valid = bool(command) and all(isinstance(part, str) for part in command)
        else:
            valid = isinstance(command, str) and bool(command.strip())
        if not valid:
            raise InvalidWorkflowError(
                f"{where}: a shell phase needs a 'command' string or list of strings"
            )


def _check_signature(phase: Phase) -> None:
    """Fail early when a callable needs an argument nothing will supply."""
    if phase.func is None:
        return
    try:
        signature = inspect.signature(phase.func)
    except (TypeError, ValueError):
        return
    supplied = set(phase.after) | set(phase.params) | CONTEXT_ARGS
    for param in signature.parameters.values():
        required = param.default is inspect.Parameter.empty
        keyword = param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        if param.kind is param.POSITIONAL_ONLY and required:
            raise InvalidWorkflowError(
                f"phase {phase.id!r}: argument {param.name!r} is positional-only; "
                "phases are called with keyword arguments"
            )
        if keyword and required and param.name not in supplied:
            raise InvalidWorkflowError(
                f"phase {phase.id!r}: argument {param.name!r} is neither an upstream "
                f"phase (after={phase.after!r}) nor a key of its params"
            )


def _phase_options(item: Any, number: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidWorkflowError(
            f"phase #{number} must be a JSON object, got {short_repr(item)}"
        )
    unknown = sorted(set(item) - _PHASE_KEYS)
    if unknown:
        raise InvalidWorkflowError(
            f"phase #{number} ({short_repr(item.get('id'))}) has unknown "
            f"field(s) {short_repr(unknown)}"
        )
    if "id" not in item:
        raise InvalidWorkflowError(f"phase #{number} has no 'id'")
    options = copy.deepcopy(dict(item))
    after = options.get("after", [])
    if not isinstance(after, list):
        raise InvalidWorkflowError(
            f"phase {short_repr(item['id'])}: 'after' must be a list of phase ids, "
            f"got {short_repr(after)}"
        )
    for key, kind in (("params", dict), ("env", dict)):
        if key in options and not isinstance(options[key], kind):
            raise InvalidWorkflowError(
                f"phase {short_repr(item['id'])}: {key!r} must be an object"
            )
    if options.get("kind", "noop") is None:
        # A missing kind means noop; null is neither and would otherwise be
        # guessed from the other fields, so a stray command could run.
        raise InvalidWorkflowError(
            f"phase {short_repr(item['id'])}: kind must be one of "
            f"{', '.join(KINDS)}, got null"
        )
    options.setdefault("kind", "noop")
    return options


def _check_memory_limit(phase: Phase, where: str) -> None:
    limit = phase.memory_limit_mb
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidWorkflowError(
            f"{where}: memory_limit_mb must be a whole number of MiB, 1 or more,"
            f" got {short_repr(limit)}"
        )
    if limit > MAX_MEMORY_LIMIT_MB:
        raise InvalidWorkflowError(
            f"{where}: memory_limit_mb must be at most {MAX_MEMORY_LIMIT_MB},"
            f" got {limit}"
        )
    if phase.kind not in ("shell", "script"):
        raise InvalidWorkflowError(
            f"{where}: memory_limit_mb applies to shell and script phases only;"
            f" a {phase.kind} phase runs where no limit of its own can be set"
            " (the server's threads, a shared worker pool or a kernel)"
        )


def importable_ref(func: Callable[..., Any]) -> str | None:
    """`module:qualname` when another process could import `func`, else None."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    ref = f"{module}:{qualname}"
    return ref if _REF.match(ref) else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
