"""Property tests: the workflow loader and every importer accept or refuse, never crash.

For any input (arbitrary text, bytes and JSON values, and documents shaped
like the real ones in ../shared/data/dags with random damage) the answer is a
valid `Workflow` or an `InvalidWorkflowError` naming what is wrong; the
strict JSON reader answers a value or a `JSONInputError`.

Runs are reproducible: `derandomize=True` makes hypothesis derive every
example from the test's name, and `database=None` keeps no state between
runs, so CI sees the same examples every time. DAGSTUDIO_FULL_PROPERTIES=1
draws ten times as many examples from random seeds, to search wider.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dagstudio_jupyter._json import (
    MAX_DEPTH,
    JSONInputError,
    find_non_json,
    loads_strict,
    short_repr,
)
from dagstudio_jupyter.errors import InvalidWorkflowError
from dagstudio_jupyter.importers import (
    from_cwl,
    from_dbt_manifest,
    from_dot,
    from_github_actions,
    from_kedro_viz,
    from_node_link,
    load_graph,
)
from dagstudio_jupyter.workflow import FORMAT, Workflow

DAGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dags"
FULL = os.environ.get("DAGSTUDIO_FULL_PROPERTIES") == "1"
# Causes that mean an importer tripped over a shape it did not check for and
# only the last-resort net turned the crash into an InvalidWorkflowError.
UNCHECKED = (TypeError, LookupError, AttributeError)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * 10 if FULL else examples,
        deadline=None,
        derandomize=not FULL,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- what every answer must satisfy -------------------------------------------


def _answer(load: Callable[..., Workflow], *args: Any) -> Workflow | None:
    """Run a loader; return the workflow, or None after checking its refusal."""
    try:
        workflow = load(*args)
    except InvalidWorkflowError as exc:
        _check_refusal(exc)
        return None
    _check_workflow(workflow)
    return workflow


def _check_refusal(exc: InvalidWorkflowError) -> None:
    assert str(exc).strip(), "an error without a message"
    cause = exc.__cause__
    unchecked = isinstance(cause, UNCHECKED) or type(cause) is ValueError
    assert not unchecked, f"unchecked input shape, caught only as {cause!r}: {exc}"


def _check_workflow(workflow: Workflow) -> None:
    assert isinstance(workflow.id, str) and isinstance(workflow.name, str)
    ids = [phase.id for phase in workflow.phases.values()]
    assert ids and list(workflow.phases) == ids and len(set(ids)) == len(ids)
    for phase in workflow.phases.values():
        assert isinstance(phase.id, str) and phase.id.strip()
        assert all(dep in workflow.phases and dep != phase.id for dep in phase.after)
        texts = [phase.label, phase.ref, phase.path, phase.group, phase.cwd]
        assert all(text is None or isinstance(text, str) for text in texts)
        command = phase.command
        parts = command if isinstance(command, list) else [command]
        assert command is None or all(isinstance(part, str) for part in parts)
        assert isinstance(phase.retries, int) and phase.retries >= 0
        timeout = phase.timeout_s
        assert timeout is None or 0 < float(timeout) < float("inf")
    assert nx.is_directed_acyclic_graph(workflow.graph)
    assert sorted(workflow.topological_order()) == sorted(ids)
    doc = workflow.to_dict()
    assert find_non_json(doc) is None, find_non_json(doc)
    again = Workflow.from_dict(doc)
    assert (again.id, again.name) == (workflow.id, workflow.name)
    assert list(again.phases.values()) == list(workflow.phases.values())
    assert Workflow.from_json(json.dumps(doc, allow_nan=False)).to_dict() == doc


# --- generic values and damage ------------------------------------------------


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


ODD_TEXT = [
    *("", " ", "\x00", "\ud800", "a\udfff", "\u202ee\u0301", "\ufeff", "\u2028"),
    *("\U0001d518\U0001d52b\U0001d526", "x" * 100_000, "a/b", "#main/a/out"),
    *("->", "subgraph", "modularPipeline"),
]
ODD_SCALARS: list[Any] = [float("nan"), float("inf"), -float("inf"), 10**400, 2**5000]
ODD_SCALARS += [-(10**30), -1, 0, 1.5, True, False, None]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Field names of every format read here, so damage adds fields that matter.
FIELDS = [
    *("format", "id", "name", "phases", "kind", "label", "after", "params"),
    *("retries", "timeout_s", "ref", "path", "command", "group", "cwd", "env"),
    "memory_limit_mb",
    *("nodes", "edges", "links", "source", "target", "directed", "graph"),
    *("type", "namespace", "modular_pipelines", "unique_id", "depends_on"),
    *("config", "enabled", "metadata", "resource_type", "package_name"),
    *("jobs", "needs", "on", "class", "steps", "in", "out", "run"),
]
keys = st.sampled_from(FIELDS) | st.text(max_size=6)
# Values for damaging parsed documents: anything JSON holds, and what it does not.
nasty = st.one_of(
    json_values,
    st.sampled_from(ODD_TEXT + ODD_SCALARS),
    st.sampled_from([MAX_DEPTH - 2, MAX_DEPTH + 5, 1200, 5000]).map(_nest),
)
# The same without deep nesting, for documents a YAML dumper must write.
yaml_nasty = st.one_of(json_values, st.sampled_from(ODD_TEXT + ODD_SCALARS[3:]))
SNIPPETS = [
    *ODD_TEXT[:9],
    *("{", "}", "[", "]", ":", ",", "-", "\n", "\t", '"', "'", "&a ", "*a"),
    *("!!binary ", "2024-13-45", "9" * 5000, "1e999", "NaN", "-Infinity", ".nan"),
    *("--", "<", ">", "/*", "//", "#", "digraph", "{" * 3000, "[" * 3000),
    "a:\n" + "".join(f"{'  ' * n}b:\n" for n in range(1, 300)),
]
# Values that read as something other than plain text in JSON or YAML.
VALUES = [
    *("2024-13-45", "2024-02-30 25:61:00", "9" * 5000, "-" + "1" * 4400),
    *("1e999", "NaN", "-Infinity", ".nan", ".inf", '"\\ud800"', "\ud800"),
    *("[" * 3000, "{" * 3000, "&a [*a]", "*a", "!!binary x", "!!python/name:os.system"),
    *("null", "true", "[]", "{}", '""', "-1", "0", "1.5", "~", "<<: *a"),
]
VALUE_START = re.compile(r":[ \t]")
VALUE_END = re.compile(r"[,}\]\n]")


def _slots(doc: Any, limit: int = 20) -> list[tuple[Any, Any]]:
    """Every (container, key) in `doc` down to `limit` levels, in a fixed order."""
    found: list[tuple[Any, Any]] = []
    stack = [(doc, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= limit:
            continue
        if isinstance(item, dict):
            pairs = list(item.items())
        elif isinstance(item, list):
            pairs = list(enumerate(item))
        else:
            continue
        for key, child in pairs:
            found.append((item, key))
            stack.append((child, depth + 1))
    return found


def _strings(doc: Any) -> list[str]:
    return [c[k] for c, k in _slots(doc) if isinstance(c[k], str)]


def _copy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except RecursionError:
        return value  # a deeply nested value from earlier damage; share it


@st.composite
def damaged(draw: st.DrawFn, seeds: st.SearchStrategy[Any], values: Any) -> Any:
    """A copy of a seed document with one to four random changes."""
    doc = copy.deepcopy(draw(seeds))
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc)
        if not slots:
            return doc
        container, key = draw(st.sampled_from(slots))
        op = draw(
            st.sampled_from(["replace", "delete", "copy", "retype", "relink", "add"])
        )
        if op == "replace":
            container[key] = draw(values)
        elif op == "delete":
            del container[key]
        elif op == "copy" and isinstance(container, list):
            container.insert(key, _copy(container[key]))  # duplicate ids
        elif op == "copy":
            container[draw(keys)] = _copy(container[key])
        elif op == "retype":
            value, text = container[key], short_repr(container[key])
            container[key] = draw(
                st.sampled_from([[value], {"x": value}, text, len(text)])
            )
        elif op == "relink":
            # Point one reference at another id of the document: cycles, self
            # loops and dangling names all come from this.
            strings = _strings(doc)
            if strings:
                container[key] = draw(st.sampled_from(strings))
        elif isinstance(container[key], dict):
            container[key][draw(keys)] = draw(values)
        elif isinstance(container[key], list):
            container[key].append(draw(values))
    return doc


@st.composite
def damaged_text(draw: st.DrawFn, seeds: st.SearchStrategy[str]) -> str:
    """A seed text with one to three insertions, cuts, repeats or new values."""
    text = draw(seeds)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "cut", "repeat", "truncate", "value"]))
        values = [match.end() for match in VALUE_START.finditer(text)]
        if op == "value" and values:
            # Put a snippet where a JSON or YAML value goes: `key: <here>`.
            at = draw(st.sampled_from(values))
            end = VALUE_END.search(text, at)
            rest = text[end.start() :] if end else ""
            text = text[:at] + draw(st.sampled_from(VALUES)) + rest
        elif op == "insert":
            text = text[:at] + draw(st.sampled_from(SNIPPETS) | st.text()) + text[at:]
        elif op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "repeat":
            lines = text.splitlines(keepends=True) or [""]
            line = at % len(lines)
            text = "".join(lines[: line + 1] + lines[line:])
        else:
            text = text[:at]
    return text


def _yaml_text(doc: Any) -> str:
    try:
        text: str = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
        return text
    except (yaml.YAMLError, RecursionError, UnicodeEncodeError):
        assume(False)  # a document the dumper cannot write is not our input
        raise AssertionError("unreachable") from None


# --- seeds: slices of the real graphs, and small documents of each shape -------


def _real(name: str) -> Path | None:
    path = DAGS / name
    return path if path.is_file() else None


def _real_text(name: str) -> str:
    """A real file's text for an `@example`; empty when the files are absent."""
    path = _real(name)
    return path.read_text(encoding="utf-8") if path else ""


@cache
def _dbt_seeds() -> list[dict[str, Any]]:
    seeds: list[dict[str, Any]] = [
        {
            "metadata": {"dbt_schema_version": "v7", "project_name": "p"},
            "nodes": {
                "model.p.a": {"unique_id": "model.p.a", "name": "a"},
                "model.p.b": {"name": "b", "depends_on": {"nodes": ["model.p.a"]}},
            },
            "sources": {"source.p.s": {"name": "s", "resource_type": "source"}},
        }
    ]
    for name in ("dbt/fivetran-log.manifest.json", "dbt/shopify.manifest.json"):
        path = _real(name)
        if path is None:
            continue
        manifest = json.loads(path.read_text(encoding="utf-8"))
        entries = {**manifest["nodes"], **manifest["sources"]}
        models = [key for key in manifest["nodes"] if key.startswith("model.")]
        for key in models[:: max(1, len(models) // 6)]:
            # A model with its direct parents and one more hop: real edges.
            keep = {key}
            for _ in range(2):
                for item in list(keep):
                    keep.update(entries[item].get("depends_on", {}).get("nodes", []))
            keep &= set(entries)
            seeds.append(
                {
                    "metadata": manifest["metadata"],
                    "nodes": {k: v for k, v in manifest["nodes"].items() if k in keep},
                    "sources": {
                        k: v for k, v in manifest["sources"].items() if k in keep
                    },
                    "disabled": {},
                }
            )
    return seeds


@cache
def _kedro_seeds() -> list[dict[str, Any]]:
    seeds: list[dict[str, Any]] = [
        {
            "nodes": [
                {"id": "h1", "name": "raw", "type": "data"},
                {"id": "h2", "name": "clean", "type": "task", "namespace": "a"},
                {"id": "a", "name": "a", "type": "modularPipeline"},
            ],
            "edges": [
                {"source": "h1", "target": "h2"},
                {"source": "h2", "target": "a"},
            ],
        }
    ]
    path = _real("kedro-viz/demo.mock.json")
    if path is not None:
        graph = json.loads(path.read_text(encoding="utf-8"))
        nodes = graph["nodes"]
        for start in range(0, len(nodes), len(nodes) // 8):
            part = nodes[start : start + 12]
            ids = {node["id"] for node in part}
            edges = [
                e for e in graph["edges"] if e["source"] in ids and e["target"] in ids
            ]
            seeds.append({"nodes": part, "edges": edges, "tags": graph["tags"][:2]})
    return seeds


@cache
def _github_seeds() -> list[dict[str, Any]]:
    seeds: list[dict[str, Any]] = [
        {
            "name": "ci",
            "on": "push",
            "jobs": {"a": {"runs-on": "x"}, "b": {"needs": "a", "runs-on": "x"}},
        }
    ]
    for name in ("github-actions/tokio-ci.yml", "github-actions/ruff-ci.yaml"):
        path = _real(name)
        if path is None:
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        jobs = doc["jobs"]
        for start in range(0, len(jobs), 6):
            keep = _upstream_closure(jobs, list(jobs)[start : start + 3], _needs)
            part = {key: jobs[key] for key in jobs if key in keep}
            seeds.append({"name": doc.get("name"), "on": doc[True], "jobs": part})
    return seeds


def _upstream_closure(
    items: dict[str, Any], start: list[str], parents: Callable[[Any], list[str]]
) -> set[str]:
    """`start` with everything it depends on: a slice that still loads."""
    keep, todo = set(), list(start)
    while todo:
        key = todo.pop()
        if key in items and key not in keep:
            keep.add(key)
            todo.extend(parents(items[key]))
    return keep


def _needs(job: Any) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _step_parents(step: Any) -> list[str]:
    inputs = step.get("in") or {}
    values = inputs.values() if isinstance(inputs, dict) else inputs
    sources: list[str] = []
    for value in values:
        source = value.get("source") if isinstance(value, dict) else value
        sources += [source] if isinstance(source, str) else source or []
    return [source.split("/")[-2] for source in sources if "/" in source]


@cache
def _cwl_seeds() -> list[dict[str, Any]]:
    seeds: list[dict[str, Any]] = [
        {
            "cwlVersion": "v1.2",
            "class": "Workflow",
            "inputs": {"x": "File"},
            "outputs": {},
            "steps": [
                {"id": "#main/a", "in": [{"id": "i", "source": "#x"}], "out": ["o"]},
                {"id": "#main/b", "in": [{"id": "i", "source": "#main/a/o"}]},
            ],
        }
    ]
    path = _real("cwl/kfdrc-alignment-wf.cwl")
    if path is not None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps = doc["steps"]
        for start in range(0, len(steps), 4):
            keep = _upstream_closure(
                steps, list(steps)[start : start + 2], _step_parents
            )
            part = {key: steps[key] for key in steps if key in keep}
            seeds.append({"class": "Workflow", "label": doc["label"], "steps": part})
    return seeds


@cache
def _dot_seeds() -> list[str]:
    seeds = [
        "digraph g { rankdir=LR; node [shape=box]; a -> b -> c; "
        'subgraph cluster_x { label="X"; d [label="D\\nd"]; } c -> d; }',
        'strict digraph { "a b" -> <b<i>c</i>>; e:n -> f:s; g; }',
    ]
    path = _real("dot/common-system-deps.dot")
    if path is not None:
        text = path.read_text(encoding="utf-8")
        seeds.append(text)
        # The real file has cycles; without its back edges it is a DAG.
        seeds.append(
            "\n".join(
                line for line in text.splitlines() if "common_system ->" not in line
            )
        )
    return seeds


@cache
def _node_link_seeds() -> list[dict[str, Any]]:
    seeds = []
    for graph in (nx.gn_graph(8, seed=1), nx.DiGraph([(0, 1), (1, 2), (2, 0)])):
        seeds.append(nx.node_link_data(graph, edges="links"))
    for kedro in _kedro_seeds():
        seeds.append(
            {
                "directed": True,
                "multigraph": False,
                "graph": {"name": "from kedro"},
                "nodes": kedro["nodes"],
                "edges": kedro["edges"],
            }
        )
    return seeds


@cache
def _workflow_seeds() -> list[dict[str, Any]]:
    seeds = [
        {
            "format": FORMAT,
            "id": "wf",
            "name": "A workflow",
            "phases": [
                {"id": "a", "kind": "shell", "command": ["echo", "hi"], "env": {}},
                {"id": "b", "kind": "python", "ref": "json:dumps", "after": ["a"]},
                {"id": "c", "kind": "script", "path": "x.py", "after": ["a", "b"]},
                {"id": "d", "kind": "notebook", "path": "n.ipynb", "timeout_s": 2.5},
                {"id": "e", "params": {"k": [1, {"z": None}]}, "retries": 2},
            ],
        }
    ]
    for seed in _github_seeds()[1:4] + _kedro_seeds()[1:4]:
        try:
            if "jobs" in seed:
                workflow = from_github_actions(yaml.safe_dump(seed))
            else:
                workflow = from_kedro_viz(seed)
            seeds.append(workflow.to_dict())
        except InvalidWorkflowError:
            continue  # a slice can cut a graph where it does not load
    return seeds


def _seeds(make: Callable[[], list[Any]]) -> st.SearchStrategy[Any]:
    # Deferred: the real files are read when the first example is drawn.
    return st.deferred(lambda: st.sampled_from(make()))


def _json_text(doc: Any) -> str:
    try:
        return json.dumps(doc, allow_nan=True)
    except RecursionError:
        return "[" * 5000  # json.dumps cannot write it; the text stays as deep


# --- the strict JSON reader ---------------------------------------------------


@_settings(150)
@given(st.text() | st.binary() | damaged_text(json_values.map(json.dumps)))
@example("1e999")
@example("9" * 5000)
@example(b"\xff")
@example("[" * 100_000)
def test_loads_strict_answers_standard_json_or_json_input_error(
    text: str | bytes,
) -> None:
    try:
        value = loads_strict(text)
    except JSONInputError as exc:
        assert str(exc)
        return

    json.dumps(value, allow_nan=False)


@_settings(80)
@given(json_values)
def test_loads_strict_reads_back_what_json_writes(value: Any) -> None:
    assert loads_strict(json.dumps(value)) == value


# --- the workflow document ----------------------------------------------------


@_settings(150)
@given(
    st.text()
    | st.binary()
    | damaged_text(damaged(_seeds(_workflow_seeds), nasty).map(_json_text))
)
@example('{"phases": [{"id": "a", "timeout_s": 1e999}]}')
@example(b'{"phases": [{"id": "a", "retries": ' + b"9" * 5000 + b"}]}")
def test_workflow_from_json_gives_a_valid_workflow_or_invalid_workflow_error(
    text: str | bytes,
) -> None:
    _answer(Workflow.from_json, text)


@_settings(100)
@given(json_values | st.sampled_from(ODD_SCALARS))
def test_workflow_from_dict_any_json_value(value: Any) -> None:
    _answer(Workflow.from_dict, value)


@_settings(250)
@given(damaged(_seeds(_workflow_seeds), nasty))
def test_workflow_from_dict_damaged_documents(doc: Any) -> None:
    _answer(Workflow.from_dict, doc)


phase_ids = st.text(
    st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12
).filter(str.strip)


@st.composite
def graphs(
    draw: st.DrawFn, ids: st.SearchStrategy[str] = phase_ids
) -> tuple[list[str], list[tuple[str, str]]]:
    """Node ids and edges; half the time ordered (a DAG), else anything."""
    nodes = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, len(nodes) - 1), st.integers(0, 7)), max_size=12
        )
    )
    pairs = [(a, b % len(nodes)) for a, b in pairs]
    if draw(st.booleans()):
        pairs = [(min(a, b), max(a, b)) for a, b in pairs if a != b]
    return nodes, [(nodes[a], nodes[b]) for a, b in pairs]


def _is_dag(nodes: list[str], edges: list[tuple[str, str]]) -> bool:
    graph = nx.DiGraph(edges)
    graph.add_nodes_from(nodes)
    return bool(nx.is_directed_acyclic_graph(graph))


def _check_graph(
    workflow: Workflow | None, nodes: list[str], edges: list[tuple[str, str]]
) -> None:
    if not _is_dag(nodes, edges):
        assert workflow is None, "a graph with a cycle was accepted"
        return
    assert workflow is not None, "a valid DAG was refused"
    assert sorted(workflow.phases) == sorted(nodes)
    assert set(workflow.graph.edges) == set(edges)


@_settings(100)
@given(graphs())
def test_workflow_from_dict_loads_exactly_the_generated_graph(
    graph: tuple[list[str], list[tuple[str, str]]],
) -> None:
    nodes, edges = graph
    phases = [
        {"id": node, "after": list(dict.fromkeys(u for u, v in edges if v == node))}
        for node in nodes
    ]

    workflow = _answer(Workflow.from_dict, {"id": "g", "phases": phases})

    _check_graph(workflow, nodes, edges)


# --- the importers: anything, and damaged real documents ------------------------


@_settings(120)
@given(json_values | damaged(_seeds(_dbt_seeds), nasty))
@example(json.loads(_real_text("dbt/fivetran-log.manifest.json") or "{}"))
def test_from_dbt_manifest_any_input(data: Any) -> None:
    _answer(from_dbt_manifest, data)


@_settings(120)
@given(json_values | damaged(_seeds(_kedro_seeds), nasty))
@example(json.loads(_real_text("kedro-viz/demo.mock.json") or "{}"))
def test_from_kedro_viz_any_input(data: Any) -> None:
    _answer(from_kedro_viz, data)


@_settings(120)
@given(json_values | damaged(_seeds(_node_link_seeds), nasty))
def test_from_node_link_any_input(data: Any) -> None:
    _answer(from_node_link, data)


@_settings(120)
@given(
    st.text()
    | damaged(_seeds(_github_seeds), yaml_nasty).map(_yaml_text)
    | damaged_text(_seeds(_github_seeds).map(_yaml_text))
)
@example(_real_text("github-actions/ruff-ci.yaml"))
@example("on: push\njobs:\n  a: {when: 2024-13-45}\n")
def test_from_github_actions_any_input(text: str) -> None:
    _answer(from_github_actions, text)


@_settings(120)
@given(
    st.text()
    | damaged(_seeds(_cwl_seeds), yaml_nasty).map(_yaml_text)
    | damaged_text(_seeds(_cwl_seeds).map(_yaml_text))
)
@example(_real_text("cwl/kfdrc-alignment-wf.cwl"))
@example("class: Workflow\nsteps: {a: {in: {x: {source: 5}}}}\n")
def test_from_cwl_any_input(text: str) -> None:
    _answer(from_cwl, text)


@_settings(150)
@given(st.text() | damaged_text(_seeds(_dot_seeds)))
@example(_real_text("dot/common-system-deps.dot"))
def test_from_dot_any_input(text: str) -> None:
    _answer(from_dot, text)


@_settings(120)
@given(
    st.text()
    | damaged_text(_seeds(_dot_seeds))
    | damaged_text(_seeds(_github_seeds).map(_yaml_text))
    | damaged_text(_seeds(_cwl_seeds).map(_yaml_text))
    | damaged_text(_seeds(_kedro_seeds).map(json.dumps))
    | damaged_text(_seeds(_dbt_seeds).map(json.dumps))
    | damaged_text(_seeds(_node_link_seeds).map(json.dumps)),
    st.sampled_from([None, "dbt", "github-actions", "dot", "kedro-viz", "cwl"]),
)
def test_load_graph_any_text_with_or_without_format(text: str, fmt: str | None) -> None:
    # A newline makes load_graph read the string as text, never as a path.
    _answer(load_graph, text + "\n", fmt)


@pytest.fixture(scope="module")
def dagstudio_fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


SMALL_REAL_FILES = [
    "dot/common-system-deps.dot",
    "github-actions/tokio-ci.yml",
    "cwl/kfdrc-alignment-wf.cwl",
]


@pytest.mark.skipif(not DAGS.is_dir(), reason=f"no shared graph files at {DAGS}")
@_settings(30)
@given(
    st.sampled_from(SMALL_REAL_FILES),
    st.lists(st.tuples(st.integers(0, 60_000), st.binary(max_size=8)), max_size=3),
    st.sampled_from(["", ".json", ".yml", ".dot", ".cwl"]),
)
def test_load_graph_damaged_real_files(
    dagstudio_fuzz_dir: Path,
    name: str,
    changes: list[tuple[int, bytes]],
    suffix: str,
) -> None:
    source = _real(name)
    assert source is not None
    data = source.read_bytes()
    for at, insert in changes:
        at %= len(data) + 1
        data = data[:at] + insert + data[at + len(insert) :]
    path = dagstudio_fuzz_dir / (Path(name).stem + suffix)
    path.write_bytes(data)

    _answer(load_graph, path)


# --- the importers read generated graphs exactly --------------------------------


def _as_dbt(nodes: list[str], edges: list[tuple[str, str]]) -> Any:
    entries = {
        node: {
            "unique_id": node,
            "name": node,
            "resource_type": "model",
            "package_name": "p",
            "depends_on": {"nodes": [u for u, v in edges if v == node]},
        }
        for node in nodes
    }
    return {"metadata": {"dbt_schema_version": "v7"}, "nodes": entries}


def _yaml_exact(doc: Any) -> str:
    text = _yaml_text(doc)
    # PyYAML writes some characters (such as U+0085) that it reads back as others.
    assume(yaml.safe_load(text) == doc)
    return text


def _as_github(nodes: list[str], edges: list[tuple[str, str]]) -> str:
    jobs = {node: {"needs": [u for u, v in edges if v == node]} for node in nodes}
    return _yaml_exact({"on": "push", "jobs": jobs})


def _as_cwl(nodes: list[str], edges: list[tuple[str, str]]) -> str:
    steps = {
        node: {
            "run": "tool.cwl",
            "in": {f"i{n}": f"{u}/out" for n, (u, v) in enumerate(edges) if v == node},
            "out": ["out"],
        }
        for node in nodes
    }
    return _yaml_exact({"class": "Workflow", "inputs": {}, "steps": steps})


def _as_dot(nodes: list[str], edges: list[tuple[str, str]]) -> str:
    def quote(node: str) -> str:
        return '"' + node.replace('"', '\\"') + '"'

    lines = [f"  {quote(node)};" for node in nodes]
    lines += [f"  {quote(u)} -> {quote(v)};" for u, v in edges]
    return "digraph {\n" + "\n".join(lines) + "\n}"


def _as_kedro(nodes: list[str], edges: list[tuple[str, str]]) -> Any:
    return {
        "nodes": [{"id": node, "name": node, "type": "task"} for node in nodes],
        "edges": [{"source": u, "target": v} for u, v in edges],
    }


def _as_node_link(nodes: list[str], edges: list[tuple[str, str]]) -> Any:
    return {
        "directed": True,
        "nodes": [{"id": node} for node in nodes],
        "links": [{"source": u, "target": v} for u, v in edges],
    }


WRITERS: dict[str, tuple[Callable[..., Any], Callable[..., Workflow]]] = {
    "dbt": (_as_dbt, from_dbt_manifest),
    "github-actions": (_as_github, from_github_actions),
    "cwl": (_as_cwl, from_cwl),
    "dot": (_as_dot, from_dot),
    "kedro-viz": (_as_kedro, from_kedro_viz),
    "node-link": (_as_node_link, from_node_link),
}
# Ids each format can spell: CWL names a step's output `step/out`, and DOT
# reads a backslash before a quote as an escape.
IDS = {
    "cwl": phase_ids.filter(lambda s: "/" not in s and not s.startswith("#")),
    "dot": phase_ids.filter(lambda s: "\\" not in s),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@_settings(60)
@given(data=st.data())
def test_importer_reads_exactly_the_generated_graph(
    fmt: str, data: st.DataObject
) -> None:
    nodes, edges = data.draw(graphs(IDS.get(fmt, phase_ids)))
    if fmt == "dbt":
        edges = [(u, v) for u, v in edges if u != v]  # dbt ignores self-references
    write, read = WRITERS[fmt]

    workflow = _answer(read, write(nodes, edges))

    _check_graph(workflow, nodes, edges)


# --- regressions the properties found ----------------------------------------


def test_loads_strict_refuses_overflowing_float_instead_of_reading_infinity() -> None:
    with pytest.raises(JSONInputError, match="too large"):
        loads_strict('{"timeout_s": 1e999}')


def test_loads_strict_refuses_overlong_integer_with_json_input_error() -> None:
    with pytest.raises(JSONInputError, match="too many digits"):
        loads_strict("9" * 5000)


def test_loads_strict_refuses_input_that_is_not_text() -> None:
    with pytest.raises(JSONInputError, match="must be text, got int"):
        loads_strict(5)  # type: ignore[arg-type]  # the point of the test


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"timeout_s": float("inf")}, "timeout_s is inf"),
        ({"params": {"x": [float("nan")]}}, "params.x[0] is nan"),
        ({"params": {"x": (1, 2)}}, "params.x is a tuple"),
        ({"params": {1: "x"}}, "key that is not a Unicode string"),
        ({"retries": -(2**5000)}, "retries is an integer too large"),
        ({"timeout_s": 10**400}, "timeout_s must be a positive number"),
        ({"group": {"x": 1}}, "group must be a string"),
        ({"kind": "script", "path": 5}, "path must be a string"),
        ({"cwd": ["a"]}, "cwd must be a string"),
        ({"command": {"a": 1}}, "'command' must be a string or a list"),
    ],
)
def test_from_dict_refuses_phase_values_it_could_not_write_back_or_run(
    doc: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        Workflow.from_dict({"phases": [{"id": "a", **doc}]})

    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"id": "\ud800"}, "id is not valid Unicode"),
        ({"name": "x\udfff"}, "name is not valid Unicode"),
        ({"name": ["a"]}, "workflow name must be a string"),
        ({"name": 3}, "workflow name must be a string"),
    ],
)
def test_from_dict_refuses_workflow_id_or_name_that_is_not_text(
    doc: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        Workflow.from_dict({**doc, "phases": [{"id": "a"}]})

    assert fragment in str(info.value)


def test_workflow_error_message_stays_short_for_a_huge_value() -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        Workflow.from_dict({"phases": ["x" * 1_000_000]})

    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("on: push\njobs:\n  a: {when: 2024-13-45}\n", "month must be in 1..12"),
        ("on: push\njobs:\n  a: {n: " + "9" * 5000 + "}\n", "YAML cannot read"),
    ],
)
def test_load_graph_yaml_value_python_cannot_build_is_invalid_workflow(
    text: str, fragment: str
) -> None:
    for fmt in (None, "github-actions"):
        with pytest.raises(InvalidWorkflowError, match=fragment):
            load_graph(text, fmt)


def test_load_graph_path_with_nul_byte_is_invalid_workflow() -> None:
    with pytest.raises(InvalidWorkflowError, match="cannot read graph file"):
        load_graph(Path("graph\x00.dot"))


@pytest.mark.parametrize(
    ("load", "data", "fragment"),
    [
        (from_kedro_viz, {"nodes": [{"name": "x"}], "edges": []}, "node has no 'id'"),
        (
            from_kedro_viz,
            {"nodes": [{"id": "a"}], "edges": [{"target": "a"}]},
            "edge has no 'source'",
        ),
        (
            from_kedro_viz,
            {"nodes": [{"id": {"deep": [1]}}], "edges": []},
            "'id' must be a string or a number",
        ),
        (from_node_link, {"nodes": [{"id": "a"}], "links": [{}]}, "has no 'source'"),
        (
            from_node_link,
            {"nodes": [{"id": None}], "links": []},
            "'id' must be a string or a number",
        ),
        (
            from_cwl,
            "class: Workflow\nsteps: {a: {in: {x: {source: 5}}}}\n",
            "a source of CWL step 'a' must be a list",
        ),
    ],
)
def test_importers_name_the_missing_or_mistyped_field(
    load: Callable[..., Workflow], data: Any, fragment: str
) -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        load(data)

    assert fragment in str(info.value)
    _check_refusal(info.value)


def test_from_kedro_viz_ignores_modular_pipelines_that_are_not_a_list() -> None:
    data = {"nodes": [{"id": "a", "modular_pipelines": 5}], "edges": []}

    assert from_kedro_viz(data)["a"].group is None


def test_from_dbt_manifest_skips_a_dependency_that_is_not_a_string() -> None:
    data = {"nodes": {"a": {}, "b": {"depends_on": {"nodes": [["a"], "a"]}}}}

    assert from_dbt_manifest(data)["b"].after == ["a"]


@pytest.mark.parametrize("word", ["subgraph", "node", "graph", "edge"])
def test_from_dot_quoted_keyword_is_a_node_id(word: str) -> None:
    workflow = from_dot(f'digraph {{ "{word}" -> b; "{word}" [label="L"] }}')

    assert workflow["b"].after == [word]
    assert workflow[word].label == "L"
