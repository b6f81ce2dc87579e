"""Tests of the Workflow model, its document and its validation."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from dagstudio_jupyter import InvalidWorkflowError, Workflow
from dagstudio_jupyter.workflow import FORMAT


def _doc(*phases: dict) -> dict:
    return {"format": FORMAT, "id": "wf", "name": "A workflow", "phases": list(phases)}


def test_workflow_decorator_builds_phases_with_dependencies() -> None:
    wf = Workflow("ml")

    @wf.phase(retries=2, timeout_s=5)
    def load() -> list[int]:
        return [1]

    @wf.phase(after=["load"], label="Split the data")
    def split(load: list[int]) -> list[int]:
        return load

    assert list(wf.phases) == ["load", "split"]
    assert wf["load"].retries == 2 and wf["load"].timeout_s == 5
    assert wf["split"].after == ["load"] and wf["split"].kind == "python"
    assert wf.downstream("load") == {"split"}
    assert wf.upstream("split") == {"load"}


def test_workflow_document_round_trips_through_json() -> None:
    doc = _doc(
        {"id": "a", "kind": "noop", "label": "Ünïcødé ✓ " + "long " * 60},
        {
            "id": "b",
            "kind": "shell",
            "command": "echo hi",
            "after": ["a"],
            "retries": 1,
        },
        {
            "id": "c",
            "kind": "python",
            "ref": "json:dumps",
            "after": ["a", "b"],
            "params": {"obj": [1, 2]},
            "timeout_s": 2.5,
        },
        {"id": "d", "kind": "script", "path": "x.py", "after": ["c"]},
        {"id": "e", "kind": "notebook", "path": "n.ipynb", "after": ["c"]},
    )

    wf = Workflow.from_json(json.dumps(doc))
    again = Workflow.from_json(wf.to_json())

    assert again.to_dict() == wf.to_dict()
    assert again.to_dict()["phases"][0]["label"] == doc["phases"][0]["label"]
    assert again["c"].params == {"obj": [1, 2]} and again["c"].timeout_s == 2.5
    assert [p["after"] for p in again.to_dict()["phases"]][2] == ["a", "b"]


def test_workflow_save_and_load_file(tmp_path) -> None:
    wf = Workflow("files", name="Files")
    wf.add("a")
    wf.add("b", after="a", command=["echo", "b"])
    path = tmp_path / "wf.json"

    wf.save(path)

    assert Workflow.load(path).to_dict() == wf.to_dict()


def test_workflow_from_networkx_keeps_edges_and_attributes() -> None:
    graph = nx.DiGraph()
    graph.add_node("fetch", label="Fetch data", kind="shell", command="true")
    graph.add_edge("fetch", "clean")
    graph.add_edge("clean", 3)

    wf = Workflow.from_networkx(graph, id="g")

    assert wf["fetch"].label == "Fetch data" and wf["fetch"].kind == "shell"
    assert wf["clean"].after == ["fetch"]
    assert wf["3"].after == ["clean"]
    assert wf.topological_order() == ["fetch", "clean", "3"]


@pytest.mark.parametrize(
    ("phases", "culprits"),
    [
        (
            [
                {"id": "a", "after": ["c"]},
                {"id": "b", "after": ["a"]},
                {"id": "c", "after": ["b"]},
            ],
            ["cycle", "'a'", "'b'", "'c'"],
        ),
        ([{"id": "a", "after": ["a"]}], ["cycle", "'a' -> 'a'"]),
        (
            [{"id": "a"}, {"id": "b", "after": ["ghost"]}],
            ["'b'", "unknown phase 'ghost'"],
        ),
        ([{"id": "a"}, {"id": "a"}], ["duplicate phase id 'a'"]),
        ([{"id": "a"}, {"id": ""}], ["phase #2", "non-empty string", "''"]),
        ([{"id": 7}], ["phase #1", "non-empty string", "7"]),
        ([{"id": "a", "kind": "teleport"}], ["'a'", "unknown kind 'teleport'"]),
        ([{"id": "a", "kind": "shell"}], ["'a'", "'command'"]),
        ([{"id": "a", "kind": "python", "ref": "not a ref"}], ["'a'", "'not a ref'"]),
        ([{"id": "a", "retries": -1}], ["'a'", "retries", "-1"]),
        ([{"id": "a", "retries": 10**300}], ["'a'", "retries must be 0 to 100"]),
        ([{"id": "a", "timeout_s": 0}], ["'a'", "timeout_s", "0"]),
        ([{"id": "a", "colour": "red"}], ["phase #1", "'colour'"]),
        ([{"id": "a", "after": "b"}], ["'a'", "'after' must be a list"]),
        ([], ["has no phases"]),
        # Refused at submit time rather than when the process fails to start.
        ([{"id": "a", "kind": None, "command": ["true"]}], ["'a'", "kind", "null"]),
        ([{"id": "a", "command": "echo \0"}], ["'a'", "'command'", "NUL"]),
        ([{"id": "a", "command": ["echo", "x\0"]}], ["'a'", "'command'", "NUL"]),
        ([{"id": "a", "path": "x\0.py"}], ["'a'", "path", "NUL"]),
        ([{"id": "a", "env": {"A=B": "x"}}], ["'a'", "env names", "'A=B'"]),
        ([{"id": "a", "env": {"": "x"}}], ["'a'", "env names", "''"]),
        ([{"id": "a", "env": {"A": "x\0"}}], ["'a'", "env values", "NUL"]),
    ],
)
def test_workflow_validation_names_the_culprit(phases, culprits) -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        Workflow.from_dict(_doc(*phases))

    for culprit in culprits:
        assert culprit in str(info.value)


def test_workflow_validation_reports_every_unknown_dependency() -> None:
    wf = Workflow("w")
    wf.add("a", after=["x"])
    wf.add("b", after=["y"])

    with pytest.raises(InvalidWorkflowError, match=r"'x'.*'y'"):
        wf.validate()


def test_workflow_rejects_wrong_format_and_bad_json() -> None:
    with pytest.raises(InvalidWorkflowError, match="unsupported workflow format 'v9'"):
        Workflow.from_dict({"format": "v9", "phases": [{"id": "a"}]})
    with pytest.raises(InvalidWorkflowError, match="not valid JSON"):
        Workflow.from_json("{nope")
    with pytest.raises(InvalidWorkflowError, match="JSON object, got list"):
        Workflow.from_dict([])  # type: ignore[arg-type]


def test_workflow_rejects_callable_argument_nothing_supplies() -> None:
    wf = Workflow("w")
    wf.add("load", lambda: 1)
    wf.add("train", lambda load, learning_rate: 1, after=["load"])

    with pytest.raises(InvalidWorkflowError, match=r"'train'.*'learning_rate'"):
        wf.validate()


def test_workflow_duplicate_id_is_refused_when_added() -> None:
    wf = Workflow("w")
    wf.add("a")

    with pytest.raises(InvalidWorkflowError, match="duplicate phase id 'a'"):
        wf.add("a")


def test_workflow_cycle_check_handles_a_large_graph() -> None:
    wf = Workflow("big")
    for index in range(5000):
        wf.add(f"p{index}", after=[f"p{index - 1}"] if index else [])

    assert wf.validate() is wf
    assert wf.topological_order()[:3] == ["p0", "p1", "p2"]


def test_workflow_bare_phase_decorator_registers_the_function() -> None:
    wf = Workflow("w")

    @wf.phase
    def load() -> int:
        return 1

    assert list(wf.phases) == ["load"] and load() == 1


def test_workflow_importable_function_gets_a_ref_and_lambda_cannot_be_saved(
    tmp_path,
) -> None:
    wf = Workflow("w")
    wf.add("dump", json.dumps)
    wf.add("local", lambda dump: dump, after="dump")

    assert wf["dump"].ref == "json:dumps"
    with pytest.raises(InvalidWorkflowError, match=r"\['local'\].*ref="):
        wf.save(tmp_path / "wf.json")


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"phases": [{"id": "a"}], "colour": 1}, "unknown field(s) ['colour']"),
        ({"phases": [{"id": "a", "env": {"N": 3}}]}, "env values must be strings"),
        ({"phases": [{"id": "a\ud800"}]}, "id is not valid Unicode"),
    ],
)
def test_workflow_rejects_odd_documents(doc: dict, fragment: str) -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        Workflow.from_dict(doc)

    assert fragment in str(info.value)


def test_workflow_from_json_rejects_invalid_utf8() -> None:
    with pytest.raises(InvalidWorkflowError, match="not valid JSON"):
        Workflow.from_json(b'{"phases": "\xff"}')
