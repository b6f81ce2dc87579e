"""The example notebooks, executed headless in a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Appended to each notebook: report the final state of every run it made.
PROBE = """
import json as _json
from dagstudio_jupyter.kernel import Run as _Run
print(_json.dumps({
    _name: {
        "status": _run.status,
        "phases": {k: [p["status"], p["attempt"]] for k, p in _run.phases.items()},
    }
    for _name, _run in list(globals().items())
    if isinstance(_run, _Run)
}))
"""


def execute_notebook(name: str, tmp_path: Path) -> dict[str, dict]:
    """Run a notebook in a fresh kernel and return the probe's report of its runs."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )

    client.execute()

    output = notebook.cells[-1].outputs[0]["text"]
    return json.loads(output)


@pytest.mark.timeout(300)
def test_quickstart_notebook_runs_every_phase_to_completion(tmp_path) -> None:
    runs = execute_notebook("quickstart.ipynb", tmp_path)

    phases = runs["run"]["phases"]
    assert runs["run"]["status"] == "completed"
    assert len(phases) >= 8
    assert {status for status, _ in phases.values()} == {"completed"}
    assert {"train_logreg", "train_forest", "train_svm", "pick_best"} <= set(phases)


@pytest.mark.timeout(300)
def test_failures_notebook_shows_failure_retry_and_cancel(tmp_path) -> None:
    runs = execute_notebook("failures.ipynb", tmp_path)

    failed = runs["failed_run"]
    retried = runs["retried_run"]
    cancelled = runs["cancelled_run"]
    assert failed["status"] == "failed"
    assert failed["phases"] == {
        "read": ["completed", 1],
        "summarise": ["completed", 1],
        "check": ["failed", 1],
        "bill": ["skipped", 0],
        "email": ["skipped", 0],
    }
    assert retried["status"] == "completed"
    assert retried["phases"] == {"fetch": ["completed", 3], "store": ["completed", 1]}
    assert cancelled["status"] == "cancelled"
    assert cancelled["phases"] == {
        "prepare": ["completed", 1],
        "crunch": ["cancelled", 1],
        "publish": ["cancelled", 0],
    }


@pytest.mark.timeout(300)
def test_iterate_notebook_resumes_reruns_and_caches(tmp_path) -> None:
    runs = execute_notebook("iterate.ipynb", tmp_path)

    assert runs["failed_run"]["status"] == "failed"
    assert runs["failed_run"]["phases"]["train"] == ["failed", 1]
    resumed = runs["resumed_run"]["phases"]
    assert runs["resumed_run"]["status"] == "completed"
    assert resumed["load"][0] == "completed"  # taken from the failed run
    assert {
        pid: resumed[pid][0] for pid in ("clean", "train", "report")
    } == dict.fromkeys(("clean", "train", "report"), "completed")
    assert {s for s, _ in runs["cached_run"]["phases"].values()} == {"cached"}
    changed = runs["changed_run"]["phases"]
    assert changed["load"][0] == "cached"
    assert [changed[p][0] for p in ("clean", "train", "report")] == ["completed"] * 3
    forced = runs["forced_run"]["phases"]
    # load ran again, with the same result: the phases below stay cached.
    assert [forced[p][0] for p in ("load", "clean", "train", "report")] == [
        "completed",
        "cached",
        "cached",
        "cached",
    ]
