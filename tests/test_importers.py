"""Tests for importing graphs from other tools' formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
from dagstudio_jupyter.workflow import Workflow

DAGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dags"
# README counts the importers' rules reproduce: (phases, edges).
EXPECTED = {
    "cwl/kfdrc-alignment-wf.cwl": (26, 54),  # steps and step->step links only
    "dbt/fivetran-log.manifest.json": (66, 53),
    "github-actions/tokio-ci.yml": (45, 42),
    "github-actions/ruff-ci.yaml": (30, 33),
    "github-actions/deno-ci.generated.yml": (36, 79),
    "kedro-viz/demo.mock.json": (180, 275),
    "kedro-viz/large-dataset.json": (2055, 2061),
}
NOT_GRAPHS = {"kedro-viz/large-dataset.run-status.json"}
CYCLIC = {"dot/common-system-deps.dot"}


def _shared_files() -> list[str]:
    if not DAGS.is_dir():
        return []
    return sorted(
        str(path.relative_to(DAGS))
        for path in DAGS.rglob("*")
        if path.is_file() and path.name != "README.md"
    )


@pytest.fixture
def dagstudio_dags() -> Path:
    if not DAGS.is_dir():
        pytest.skip(f"shared graph files not found at {DAGS} (../shared beside repo)")
    return DAGS


def _counts(workflow: Workflow) -> tuple[int, int]:
    graph = workflow.graph
    return graph.number_of_nodes(), graph.number_of_edges()


@pytest.mark.parametrize("name", _shared_files() or ["(no shared data)"])
def test_load_graph_shared_file_detects_format(dagstudio_dags: Path, name: str) -> None:
    path = dagstudio_dags / name

    if name in NOT_GRAPHS:
        with pytest.raises(InvalidWorkflowError, match="known formats"):
            load_graph(path)
        return
    if name in CYCLIC:
        with pytest.raises(InvalidWorkflowError, match=r"cycle: '.*' -> '"):
            load_graph(path)
        return
    workflow = load_graph(path)

    assert all(phase.kind == "noop" for phase in workflow.phases.values())
    assert all(phase.label for phase in workflow.phases.values())
    if name in EXPECTED:
        assert _counts(workflow) == EXPECTED[name]


def test_load_graph_dbt_shopify_leaves_out_disabled(dagstudio_dags: Path) -> None:
    workflow = load_graph(dagstudio_dags / "dbt" / "shopify.manifest.json")
    graph = workflow.graph
    models = graph.subgraph(n for n in graph if not n.startswith("test."))

    # 260 in the README less the 9 tests with config.enabled: false.
    assert len(workflow) == 251
    assert (models.number_of_nodes(), models.number_of_edges()) == (159, 144)
    assert {p.group for p in workflow.phases.values()} >= {
        "shopify/model",
        "shopify_source/source",
    }


def test_load_graph_dbt_fivetran_counts_without_tests(dagstudio_dags: Path) -> None:
    graph = load_graph(dagstudio_dags / "dbt" / "fivetran-log.manifest.json").graph
    models = graph.subgraph(n for n in graph if not n.startswith("test."))

    assert (models.number_of_nodes(), models.number_of_edges()) == (44, 31)


def test_load_graph_tokio_hub_job(dagstudio_dags: Path) -> None:
    workflow = load_graph(dagstudio_dags / "github-actions" / "tokio-ci.yml")

    assert len(workflow.downstream("basics")) >= 37
    assert workflow.graph.out_degree("basics") == 37


def test_load_graph_dot_counts_when_cycle_removed(dagstudio_dags: Path) -> None:
    text = (dagstudio_dags / "dot" / "common-system-deps.dot").read_text()
    acyclic = text.replace('"common_system" -> "monitoring_system";', "")

    workflow = from_dot(acyclic)

    assert workflow.id == "DependencyGraph"
    assert _counts(workflow) == (7, 10)
    assert "database_system" in workflow


def test_from_github_actions_needs_string_and_list() -> None:
    text = """
on: push
jobs:
  build: {runs-on: ubuntu-latest, name: Build it}
  test: {needs: build}
  ship: {needs: [build, test]}
"""

    workflow = from_github_actions(text)

    assert workflow["build"].label == "Build it"
    assert workflow["test"].after == ["build"]
    assert workflow["ship"].after == ["build", "test"]


def test_from_github_actions_unknown_need_names_job_and_id() -> None:
    text = "on: push\njobs:\n  a: {}\n  b: {needs: [a, nope]}\n"

    with pytest.raises(InvalidWorkflowError, match="'b' needs 'nope'"):
        from_github_actions(text)


def test_from_dot_quoted_ids_chains_comments_and_labels() -> None:
    text = """
/* header */ strict digraph "my graph" {
  # a preprocessor-style line
  rankdir=LR; graph [fontsize=10]; node [shape=box]; edge [color=red]
  "load data" [label="Load\\ndata"];
  "load data" -> clean -> "train model" -> report  // a chain
  clean -> report [weight=2];
  subgraph cluster_eval { evaluate; }
  "train model" -> {evaluate report}
}
"""

    workflow = from_dot(text)

    assert workflow.id == "my graph"
    assert workflow["load data"].label == "Load data"
    assert workflow["clean"].after == ["load data"]
    assert workflow["report"].after == ["train model", "clean"]
    assert workflow["evaluate"].after == ["train model"]
    assert workflow["evaluate"].group == "cluster_eval"


def test_from_dot_cycle_names_path() -> None:
    with pytest.raises(InvalidWorkflowError, match="'a' -> 'b' -> 'a'"):
        from_dot("digraph { a -> b -> a }")


def test_from_cwl_list_steps_and_multiple_sources() -> None:
    text = """
cwlVersion: v1.2
class: Workflow
inputs: {ref: File}
outputs: []
steps:
  - id: align
    in: {reference: ref}
    out: [bam]
    run: align.cwl
  - id: index
    in:
      - id: reads
        source: align/bam
    out: [bai]
    run: index.cwl
  - id: "#merge"
    label: Merge all
    in:
      files: {source: [align/bam, index/bai, ref]}
      short: index/bai
    out: [merged]
    run: merge.cwl
"""

    workflow = from_cwl(text)

    assert list(workflow.phases) == ["align", "index", "merge"]
    assert workflow["align"].after == []
    assert workflow["index"].after == ["align"]
    assert workflow["merge"].after == ["align", "index"]
    assert workflow["merge"].label == "Merge all"
    assert workflow["merge"].group == "step"


def test_from_cwl_unknown_step_source_is_an_error() -> None:
    text = "class: Workflow\nsteps:\n  a: {in: {x: ghost/out}, run: a.cwl}\n"

    with pytest.raises(InvalidWorkflowError, match="no step 'ghost'"):
        from_cwl(text)


@pytest.mark.parametrize("key", ["links", "edges"])
def test_from_node_link_accepts_links_and_edges_keys(key: str) -> None:
    data = {
        "directed": True,
        "graph": {"name": "demo"},
        "nodes": [{"id": 1, "label": "One"}, {"id": 2, "group": "g"}],
        key: [{"source": 1, "target": 2}],
    }

    workflow = from_node_link(data)

    assert workflow.name == "demo"
    assert workflow["1"].label == "One"
    assert workflow["2"].after == ["1"]
    assert workflow["2"].group == "g"


def test_from_kedro_viz_leaves_out_modular_pipelines() -> None:
    data = {
        "nodes": [
            {"id": "h1", "name": "raw", "type": "data"},
            {"id": "h2", "name": "clean", "type": "task", "modular_pipelines": ["a"]},
            {"id": "a", "name": "a", "type": "modularPipeline"},
        ],
        "edges": [
            {"source": "h1", "target": "h2"},
            {"source": "h1", "target": "a"},
        ],
    }

    workflow = from_kedro_viz(data)

    assert list(workflow.phases) == ["h1", "h2"]
    assert workflow["h2"].after == ["h1"]
    assert (workflow["h2"].label, workflow["h2"].group) == ("clean", "a")


def test_from_dbt_manifest_drops_disabled_and_missing_dependencies() -> None:
    data = {
        "metadata": {"dbt_schema_version": "v7"},
        "nodes": {
            "model.p.a": {"name": "a", "resource_type": "model", "package_name": "p"},
            "model.p.b": {
                "name": "b",
                "depends_on": {"nodes": ["model.p.a", "model.p.gone", "test.p.off"]},
            },
            "test.p.off": {"name": "off", "config": {"enabled": False}},
        },
        "sources": {"source.p.s": {"name": "s"}},
        "disabled": {"model.p.gone": [{"name": "gone"}]},
    }

    workflow = from_dbt_manifest(data)

    assert sorted(workflow.phases) == ["model.p.a", "model.p.b", "source.p.s"]
    assert workflow["model.p.b"].after == ["model.p.a"]
    assert workflow["model.p.a"].group == "p/model"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("dot", "digraph { a -> }"),
        ("dot", "digraph { a [label= }"),
        ("dot", 'digraph { "open }'),
        ("dot", "digraph { a } extra"),
        ("github-actions", "on: push\njobs: [a, b]\n"),
        ("github-actions", "on: push\njobs:\n  a: {needs: 3}\n"),
        ("github-actions", "on: push\njobs: {a: [\n"),
        ("cwl", "class: Workflow\nsteps: 7\n"),
        ("cwl", "class: CommandLineTool\n"),
        ("dbt", '{"nodes": {"x": 1}}'),
        ("dbt", "not json"),
        ("kedro-viz", '{"nodes": [{"name": "no id"}], "edges": []}'),
        ("kedro-viz", '{"nodes": [{"id": "a"}], "edges": [{"source": "a"}]}'),
        ("node-link", '{"directed": false, "nodes": [], "links": []}'),
        ("node-link", '{"nodes": [{"id": 1}], "links": [{"source": 1, "target": 9}]}'),
        ("node-link", '{"nodes": [], "links": []}'),
    ],
)
def test_load_graph_malformed_input_raises_invalid_workflow(
    fmt: str, text: str
) -> None:
    with pytest.raises(InvalidWorkflowError):
        load_graph(text, fmt)


@pytest.mark.parametrize(
    "text",
    ["", "plain words", "[1, 2]", '{"nodes": 3}', "key: value\n"],
)
def test_load_graph_unknown_format_lists_known_formats(text: str) -> None:
    with pytest.raises(InvalidWorkflowError, match="known formats: dbt"):
        load_graph(text)


def test_load_graph_detects_formats_from_text() -> None:
    node_link = '{"directed": true, "nodes": [{"id": "a"}], "edges": []}'

    assert len(load_graph("digraph{a->b}")) == 2
    assert len(load_graph(node_link)) == 1
    assert len(load_graph("on: push\njobs:\n  a: {}\n")) == 1
    assert len(load_graph("class: Workflow\nsteps: {s: {in: {}}}\n")) == 1


def test_convert_prints_a_loadable_document(dagstudio_dags: Path) -> None:
    path = dagstudio_dags / "github-actions" / "ruff-ci.yaml"

    done = subprocess.run(
        [sys.executable, "-m", "dagstudio_jupyter.cli", "convert", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert len(Workflow.from_json(done.stdout)) == 30


def test_convert_bad_input_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.dot"
    path.write_text("digraph { a -> b -> a }")

    done = subprocess.run(
        [sys.executable, "-m", "dagstudio_jupyter.cli", "convert", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("dagstudio: error: ")
    assert "cycle" in done.stderr
    assert json.loads(done.stdout or "null") is None


def test_dbt_manifest_without_a_project_name_is_named_after_its_file() -> None:
    workflow = load_graph(DAGS / "dbt" / "shopify.manifest.json")

    assert workflow.id == "shopify"
    assert workflow.name == "shopify"
