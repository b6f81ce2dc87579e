"""Import graphs from dbt, GitHub Actions, DOT, kedro-viz, CWL and node-link JSON."""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml

from ._json import JSONInputError, loads_strict, short_repr
from .errors import InvalidWorkflowError
from .workflow import Workflow

FORMATS = ("dbt", "github-actions", "dot", "kedro-viz", "cwl", "node-link")
_DOT_START = re.compile(r"^\s*(?:strict\s+)?(?:di)?graph\b", re.IGNORECASE)
_DOT_SUFFIXES = (".dot", ".gv")
_F = TypeVar("_F", bound=Callable[..., Workflow])
_Yaml = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _importer(fmt: str) -> Callable[[_F], _F]:
    """Make every refusal of malformed input an `InvalidWorkflowError`.

    Each importer checks the shapes it reads and names what is wrong; this
    is the net under those checks, for a shape none of them foresaw.
    """

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Workflow:
            try:
                return func(*args, **kwargs)
            except InvalidWorkflowError:
                raise
            except RecursionError:
                raise InvalidWorkflowError(f"{fmt} input nests too deeply") from None
            except (TypeError, LookupError, AttributeError, ValueError) as exc:
                raise InvalidWorkflowError(f"malformed {fmt} input: {exc}") from exc

        return run  # type: ignore[return-value]  # same signature as func

    return wrap


class _Builder:
    """Collects phases in order, then builds and validates the workflow."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, Any]] = {}

    def node(
        self, node_id: str, label: str | None = None, group: str | None = None
    ) -> None:
        phase = self.phases.setdefault(node_id, {"after": []})
        if label is not None:
            phase["label"] = label
        if group is not None:
            phase.setdefault("group", group)

    def known_edge(self, source: str, target: str, what: str) -> None:
        """Add an edge between two phases already seen; name a missing end."""
        for end in (source, target):
            if end not in self.phases:
                raise InvalidWorkflowError(
                    f"{what} {short_repr(source)} -> {short_repr(target)} names "
                    f"unknown node {short_repr(end)}"
                )
        self.edge(source, target)

    def edge(self, source: str, target: str) -> None:
        self.node(source)
        self.node(target)
        after = self.phases[target]["after"]
        if source not in after:
            after.append(source)

    def build(self, workflow_id: str, name: str | None = None) -> Workflow:
        workflow = Workflow(workflow_id, name)
        for node_id, options in self.phases.items():
            workflow.add(node_id, kind="noop", **options)
        return workflow.validate()


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidWorkflowError(
            f"{what} must be a mapping, got {type(value).__name__}"
        )
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidWorkflowError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _node_id(item: Mapping[str, Any], key: str, what: str) -> str:
    """The id under `key` as text; ids may be strings or numbers."""
    if key not in item:
        raise InvalidWorkflowError(f"{what} has no {key!r}: {short_repr(dict(item))}")
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidWorkflowError(
            f"{what} {key!r} must be a string or a number, got {short_repr(value)}"
        )
    return str(value)


@_importer("dbt manifest")
def from_dbt_manifest(data: Mapping[str, Any], id: str = "dbt") -> Workflow:
    """Build a workflow from a dbt `manifest.json` (already parsed).

    Phases are the entries of `nodes`, `sources`, `exposures`, `metrics`,
    `semantic_models` and `unit_tests`, keyed by `unique_id`; entries under
    `disabled` and nodes with `config.enabled: false` are left out, and so
    are dependencies on ids that are not phases.
    """
    data = _mapping(data, "a dbt manifest")
    entries: dict[str, Mapping[str, Any]] = {}
    for section in ("nodes", "sources", "exposures", "metrics"):
        entries.update(_mapping(data.get(section) or {}, f"dbt {section!r}"))
    for section in ("semantic_models", "unit_tests"):
        entries.update(_mapping(data.get(section) or {}, f"dbt {section!r}"))
    kept: dict[str, Mapping[str, Any]] = {}
    for key, entry in entries.items():
        entry = _mapping(entry, f"dbt entry {key!r}")
        config = entry.get("config")
        if isinstance(config, Mapping) and config.get("enabled") is False:
            continue
        unique_id = entry.get("unique_id")
        kept[unique_id if isinstance(unique_id, str) and unique_id else key] = entry
    builder = _Builder()
    for unique_id, entry in kept.items():
        package, kind = entry.get("package_name"), entry.get("resource_type")
        group = "/".join(part for part in (package, kind) if isinstance(part, str))
        builder.node(unique_id, _text(entry.get("name")) or unique_id, group or None)
    for unique_id, entry in kept.items():
        depends = _mapping(entry.get("depends_on") or {}, f"{unique_id!r} depends_on")
        for upstream in _list(depends.get("nodes") or [], f"{unique_id!r} depends_on"):
            if isinstance(upstream, str) and upstream in kept and upstream != unique_id:
                builder.edge(upstream, unique_id)
    metadata = data.get("metadata")
    name = None
    if isinstance(metadata, Mapping):
        # Older manifests have only `project_id`, a hash nobody can read; the
        # workflow is then named by its id (the file's name, from load_graph).
        name = _text(metadata.get("project_name"))
    return builder.build(id, name)


@_importer("GitHub Actions")
def from_github_actions(text: str, id: str = "github-actions") -> Workflow:
    """Build a workflow from a GitHub Actions workflow file: one phase per job."""
    doc = _mapping(_load_yaml(text, "GitHub Actions"), "a GitHub Actions workflow")
    jobs = _mapping(doc.get("jobs"), "GitHub Actions 'jobs'")
    if not jobs:
        raise InvalidWorkflowError("GitHub Actions workflow has no jobs")
    builder = _Builder()
    for job_id, job in jobs.items():
        job = _mapping(job, f"job {job_id!r}")
        builder.node(str(job_id), _text(job.get("name")) or str(job_id))
    for job_id, job in jobs.items():
        needs = job.get("needs") or []
        what = f"{short_repr(job_id)} needs"
        needs = [needs] if isinstance(needs, str) else _list(needs, what)
        for need in needs:
            if not isinstance(need, str) or need not in jobs:
                raise InvalidWorkflowError(
                    f"job {short_repr(job_id)} needs {short_repr(need)}, "
                    "which is not a job of this workflow"
                )
            builder.edge(need, str(job_id))
    return builder.build(id, _text(doc.get("name")))


@_importer("kedro-viz")
def from_kedro_viz(data: Mapping[str, Any], id: str = "kedro") -> Workflow:
    """Build a workflow from kedro-viz graph JSON, without `modularPipeline` nodes.

    Phase ids are the node hashes, labels their `name`, groups their namespace.
    """
    data = _mapping(data, "kedro-viz JSON")
    hierarchy: set[str] = set()
    builder = _Builder()
    for node in _list(data.get("nodes"), "kedro-viz 'nodes'"):
        node = _mapping(node, "a kedro-viz node")
        node_id = _node_id(node, "id", "kedro-viz node")
        if node.get("type") == "modularPipeline":
            hierarchy.add(node_id)
            continue
        builder.node(node_id, _text(node.get("name")) or node_id, _kedro_group(node))
    for edge in _list(data.get("edges"), "kedro-viz 'edges'"):
        edge = _mapping(edge, "a kedro-viz edge")
        source = _node_id(edge, "source", "kedro-viz edge")
        target = _node_id(edge, "target", "kedro-viz edge")
        if source in hierarchy or target in hierarchy:
            continue
        builder.known_edge(source, target, "kedro-viz edge")
    return builder.build(id)


def _kedro_group(node: Mapping[str, Any]) -> str | None:
    namespace = _text(node.get("namespace"))
    if namespace:
        return namespace
    listed = node.get("modular_pipelines")
    listed = listed if isinstance(listed, list) else []
    pipelines = [p for p in listed if isinstance(p, str)]
    return max(pipelines, key=len) if pipelines else None


@_importer("CWL")
def from_cwl(text: str, id: str = "cwl") -> Workflow:
    """Build a workflow from a CWL Workflow (YAML or JSON text): one phase per step.

    Links come from each step's `in:` sources that name another step's
    output (`step/out`); workflow inputs and outputs are not phases.
    """
    doc = _mapping(_load_yaml(text, "CWL"), "a CWL document")
    if doc.get("class") != "Workflow":
        raise InvalidWorkflowError(
            f"CWL document has class {doc.get('class')!r}; only 'Workflow' is a graph"
        )
    steps = _cwl_steps(doc.get("steps"))
    builder = _Builder()
    for step_id, step in steps.items():
        builder.node(step_id, _text(step.get("label")) or step_id, "step")
    for step_id, step in steps.items():
        for source in _cwl_sources(step.get("in") or {}, step_id):
            source = source.lstrip("#")
            if "/" not in source:
                continue  # a workflow input
            upstream = source.split("/")[-2]
            if upstream not in steps:
                raise InvalidWorkflowError(
                    f"CWL step {step_id!r} reads {source!r}, but there is no step "
                    f"{upstream!r}"
                )
            if upstream == step_id:
                raise InvalidWorkflowError(f"CWL step {step_id!r} reads its own output")
            builder.edge(upstream, step_id)
    return builder.build(id, _text(doc.get("label")))


def _cwl_steps(steps: Any) -> dict[str, Mapping[str, Any]]:
    if isinstance(steps, Mapping):
        return {
            str(key): _mapping(step, f"CWL step {short_repr(key)}")
            for key, step in steps.items()
        }
    found: dict[str, Mapping[str, Any]] = {}
    for step in _list(steps, "CWL 'steps'"):
        step = _mapping(step, "a CWL step")
        step_id = _text(step.get("id"))
        if step_id is None:
            raise InvalidWorkflowError("a CWL step in list form has no 'id'")
        # Packed documents write ids as "#main/step"; the last part is the name.
        found[step_id.lstrip("#").split("/")[-1]] = step
    if not found:
        raise InvalidWorkflowError("CWL workflow has no steps")
    return found


def _cwl_sources(inputs: Any, step_id: str) -> Iterable[str]:
    if isinstance(inputs, Mapping):
        items: list[Any] = [
            value if isinstance(value, Mapping) else {"source": value}
            for value in inputs.values()
        ]
    else:
        items = _list(inputs, f"CWL step {step_id!r} 'in'")
    for item in items:
        if isinstance(item, str):
            continue  # a list of bare names has no sources
        source = _mapping(item, f"an input of CWL step {step_id!r}").get("source")
        values = [source] if isinstance(source, str) else source
        if values is None:
            continue
        for value in _list(values, f"a source of CWL step {step_id!r}"):
            if not isinstance(value, str):
                raise InvalidWorkflowError(
                    f"CWL step {step_id!r} has a source that is not a string: "
                    f"{short_repr(value)}"
                )
            yield value


@_importer("node-link JSON")
def from_node_link(data: Mapping[str, Any], id: str = "graph") -> Workflow:
    """Build a workflow from networkx node-link JSON (`links` or `edges` key)."""
    data = _mapping(data, "node-link JSON")
    if data.get("directed") is False:
        raise InvalidWorkflowError(
            "node-link graph is undirected; a workflow needs directed edges"
        )
    key = "links" if "links" in data else "edges"
    builder = _Builder()
    for node in _list(data.get("nodes"), "node-link 'nodes'"):
        node = _mapping(node, "a node-link node")
        label = _text(node.get("label")) or _text(node.get("name"))
        builder.node(
            _node_id(node, "id", "node-link node"), label, _text(node.get("group"))
        )
    for link in _list(data.get(key), f"node-link {key!r}"):
        what = f"node-link {key[:-1]}"
        link = _mapping(link, f"a {what}")
        source, target = _node_id(link, "source", what), _node_id(link, "target", what)
        builder.known_edge(source, target, what)
    graph = data.get("graph")
    name = _text(graph.get("name")) if isinstance(graph, Mapping) else None
    return builder.build(id, name)


@_importer("DOT")
def from_dot(text: str, id: str | None = None) -> Workflow:
    """Build a workflow from a Graphviz DOT digraph; an edge a -> b runs a first.

    Node `label` attributes become labels, and the name of the subgraph a node
    is first declared in becomes its group. Attribute and default statements
    are otherwise ignored.
    Known limitation: in an undirected `graph`, `a -- b` is read as a -> b.
    """
    if not isinstance(text, str):
        raise InvalidWorkflowError(f"DOT input must be text, got {type(text).__name__}")
    parser = _DotParser(_dot_tokens(text))
    name = parser.parse()
    return parser.builder.build(id or name or "graph", name)


_DOT_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<line>//[^\n]*|\#[^\n]*)
    | (?P<block>/\*.*?\*/)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<edge>->|--)
    | (?P<word>[A-Za-z_\x80-\uffff][\w\x80-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))
    | (?P<punct>[{}\[\];,=:+<])
    """,
    re.VERBOSE | re.DOTALL,
)


class _Token(NamedTuple):
    kind: str
    value: str
    # Quoted and HTML ids are never keywords: "node" is a node named node.
    quoted: bool = False


def _dot_tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _DOT_TOKEN.match(text, pos)
        if match is None:
            line = text.count("\n", 0, pos) + 1
            raise InvalidWorkflowError(
                f"DOT syntax error on line {line}: unexpected {text[pos : pos + 20]!r}"
            )
        kind = match.lastgroup or ""
        if kind == "punct" and match.group() == "<":
            end = _html_end(text, pos)
            tokens.append(_Token("id", text[pos + 1 : end - 1], quoted=True))
            pos = end
            continue
        pos = match.end()
        if kind == "quoted":
            raw = match.group()[1:-1]
            value = raw.replace('\\"', '"').replace("\\\n", "")
            tokens.append(_Token("id", value, quoted=True))
        elif kind == "word":
            tokens.append(_Token("id", match.group()))
        elif kind in ("edge", "punct"):
            tokens.append(_Token(match.group(), match.group()))
    return tokens


def _html_end(text: str, pos: int) -> int:
    depth = 0
    for index in range(pos, len(text)):
        depth += {"<": 1, ">": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    raise InvalidWorkflowError("DOT HTML string '<...>' is never closed")


class _DotParser:
    """A recursive-descent reader of the DOT statements that shape a graph."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.builder = _Builder()

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.tokens[index][0] if index < len(self.tokens) else "end"

    def take(self, kind: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise InvalidWorkflowError(
                f"DOT input ends early; expected {kind or 'more'!r}"
            )
        found, value, _ = self.tokens[self.pos]
        if kind is not None and found != kind:
            raise InvalidWorkflowError(
                f"DOT syntax error: expected {kind!r}, found {value!r}"
            )
        self.pos += 1
        return value

    def keyword(self, offset: int = 0) -> str:
        if self.peek(offset) != "id" or self.tokens[self.pos + offset].quoted:
            return ""
        return self.tokens[self.pos + offset].value.lower()

    def parse(self) -> str | None:
        if self.keyword() == "strict":
            self.take()
        if self.keyword() not in ("graph", "digraph"):
            raise InvalidWorkflowError("DOT input must start with 'digraph' or 'graph'")
        self.take()
        name = self.take("id") if self.peek() == "id" else None
        self.take("{")
        self.statements(None)
        self.take("}")
        if self.pos != len(self.tokens):
            raise InvalidWorkflowError(
                "DOT input goes on after the graph closes: "
                f"{self.tokens[self.pos][1]!r}"
            )
        return _text(name)

    def statements(self, group: str | None) -> list[str]:
        """Read statements up to a closing brace; return the nodes they name."""
        named: list[str] = []
        while self.peek() not in ("}", "end"):
            named.extend(self.statement(group))
            while self.peek() == ";":
                self.take()
        return named

    def statement(self, group: str | None) -> list[str]:
        word = self.keyword()
        if word in ("graph", "node", "edge") and self.peek(1) == "[":
            self.take()
            self.attributes()
            return []
        if self.peek() == "id" and self.peek(1) == "=":
            self.take(), self.take(), self.take("id")
            return []
        nodes = self.operand(group)
        chain = [nodes]
        while self.peek() in ("->", "--"):
            self.take()
            chain.append(self.operand(group))
        attrs = self.attributes() if self.peek() == "[" else {}
        if len(chain) == 1 and len(nodes) == 1 and "label" in attrs:
            self.builder.node(nodes[0], _dot_label(attrs["label"]))
        for sources, targets in itertools.pairwise(chain):
            for source in sources:
                for target in targets:
                    self.builder.edge(source, target)
        return [node for part in chain for node in part]

    def operand(self, group: str | None) -> list[str]:
        if self.keyword() == "subgraph" or self.peek() == "{":
            name = None
            if self.keyword() == "subgraph":
                self.take()
                name = self.take("id") if self.peek() == "id" else None
            self.take("{")
            nodes = self.statements(_text(name) or group)
            self.take("}")
            return nodes
        node_id = self.take("id")
        while self.peek() == ":":  # a port such as a:n or a:p:sw
            self.take(), self.take("id")
        self.builder.node(node_id, group=group)
        return [node_id]

    def attributes(self) -> dict[str, str]:
        attrs: dict[str, str] = {}
        while self.peek() == "[":
            self.take()
            while self.peek() != "]":
                key = self.take("id")
                value = "true"
                if self.peek() == "=":
                    self.take()
                    value = self.take("id")
                    while self.peek() == "+":
                        self.take()
                        value += self.take("id")
                attrs[key] = value
                if self.peek() in (",", ";"):
                    self.take()
            self.take("]")
        return attrs


def _dot_label(value: str) -> str:
    return re.sub(r"\\[nlr]", " ", value).strip()


def load_graph(
    path_or_text: str | os.PathLike[str], fmt: str | None = None
) -> Workflow:
    """Load a graph from a file path or text, detecting its format when `fmt` is None.

    Formats: dbt, github-actions, dot, kedro-viz, cwl, node-link. A `str`
    is read as a path when it names an existing file and holds no newline or
    brace, else as the text itself; a `Path` is always a file.
    """
    text, name = _read(path_or_text)
    if fmt is not None and fmt not in FORMATS:
        raise InvalidWorkflowError(
            f"unknown graph format {fmt!r}; known formats: {', '.join(FORMATS)}"
        )
    workflow_id = _workflow_id(name)
    fmt = fmt or _detect(text, name)
    parsed: Any = None
    if fmt in ("dbt", "kedro-viz", "node-link"):
        parsed = _load_json(text, fmt)
    if fmt == "dbt":
        return from_dbt_manifest(parsed, workflow_id or "dbt")
    if fmt == "kedro-viz":
        return from_kedro_viz(parsed, workflow_id or "kedro")
    if fmt == "node-link":
        return from_node_link(parsed, workflow_id or "graph")
    if fmt == "github-actions":
        return from_github_actions(text, workflow_id or "github-actions")
    if fmt == "cwl":
        return from_cwl(text, workflow_id or "cwl")
    return from_dot(text, workflow_id)


def _read(path_or_text: str | os.PathLike[str]) -> tuple[str, str | None]:
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or len(path_or_text) > 4096 or "{" in path_or_text
    ):
        return path_or_text, None
    if not isinstance(path_or_text, (str, os.PathLike)):
        raise InvalidWorkflowError(
            f"load_graph needs a path or text, got {type(path_or_text).__name__}"
        )
    path = Path(path_or_text)
    if isinstance(path_or_text, str) and not path.is_file():
        return path_or_text, None
    try:
        return path.read_text(encoding="utf-8"), path.name
    except (OSError, ValueError) as exc:
        # ValueError: text that is not UTF-8, or a NUL byte in the path.
        raise InvalidWorkflowError(
            f"cannot read graph file {short_repr(str(path))}: {exc}"
        ) from None


def _workflow_id(name: str | None) -> str | None:
    if not name:
        return None
    stem = name.split(".")[0]
    return stem or None


def _detect(text: str, name: str | None) -> str:
    where = f"{name}" if name else "the input"
    known = f"known formats: {', '.join(FORMATS)}"
    suffix = Path(name).suffix.lower() if name else ""
    if suffix in _DOT_SUFFIXES or _DOT_START.match(text):
        return "dot"
    if text.lstrip().startswith(("{", "[")):
        fmt = _detect_json(_load_json(text, "JSON"))
        if fmt is None:
            raise InvalidWorkflowError(
                f"cannot tell the graph format of {where}: it is JSON but not a dbt "
                f"manifest, kedro-viz graph or node-link graph; {known}"
            )
        return fmt
    try:
        doc = _load_yaml(text, "YAML")
    except InvalidWorkflowError as exc:
        raise InvalidWorkflowError(
            f"cannot tell the graph format of {where}: it is not JSON, DOT or "
            f"readable YAML ({exc}); {known}"
        ) from exc
    if isinstance(doc, Mapping):
        if doc.get("class") == "Workflow":
            return "cwl"
        # YAML 1.1 reads the bare key `on` as the boolean true.
        if "jobs" in doc and ("on" in doc or True in doc):
            return "github-actions"
    raise InvalidWorkflowError(f"cannot tell the graph format of {where}; {known}")


def _detect_json(data: Any) -> str | None:
    if not isinstance(data, Mapping) or "nodes" not in data:
        return None
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and "dbt_schema_version" in metadata:
        return "dbt"
    nodes = data["nodes"]
    has_edges = "links" in data or "edges" in data
    if has_edges and "directed" in data:
        return "node-link"
    if (
        "edges" in data
        and isinstance(nodes, list)
        and nodes
        and all(isinstance(node, Mapping) and "type" in node for node in nodes)
    ):
        return "kedro-viz"
    return None


def _load_json(text: str, fmt: str) -> Any:
    try:
        return loads_strict(text)
    except JSONInputError as exc:
        raise InvalidWorkflowError(f"{fmt} input is not valid JSON: {exc}") from exc


def _load_yaml(text: str, fmt: str) -> Any:
    if not isinstance(text, str):
        raise InvalidWorkflowError(
            f"{fmt} input must be text, got {type(text).__name__}"
        )
    try:
        return yaml.load(text, Loader=_Yaml)
    except yaml.YAMLError as exc:
        raise InvalidWorkflowError(f"{fmt} input is not valid YAML: {exc}") from exc
    except RecursionError:
        raise InvalidWorkflowError(f"{fmt} input nests too deeply") from None
    except UnicodeEncodeError as exc:  # a lone surrogate; the loader reads UTF-8
        raise InvalidWorkflowError(
            f"{fmt} input is not valid Unicode text at character {exc.start}"
        ) from None
    except ValueError as exc:
        # Plain YAML the loader cannot turn into values: a date such as
        # 2024-13-45, or an integer too long for Python to convert.
        raise InvalidWorkflowError(
            f"{fmt} input holds a value YAML cannot read: {short_repr(str(exc))}"
        ) from None
