"""Tests of DagWidget's Python side: following runs, coalescing, toasts, cancel,
and the keys the page remembers a widget by."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
import traitlets

from dagstudio_jupyter import DagWidget, Workflow


class RecordingWidget(DagWidget):
    """A DagWidget that also keeps the custom messages it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[dict[str, Any]] = []

    def send(self, content: Any, buffers: Any = None) -> None:
        self.sent.append(content)
        super().send(content, buffers)


def test_widget_draws_a_workflow_before_any_run() -> None:
    wf = Workflow("w", name="Named")
    wf.add("a", label="First")
    wf.add("b", after="a")

    widget = wf.show()

    assert widget.workflow["name"] == "Named"
    assert [p["id"] for p in widget.workflow["phases"]] == ["a", "b"]
    assert widget.phases == {} and widget.execution == {}


def test_widget_follows_a_run_to_its_final_state_with_coalesced_updates() -> None:
    wf = Workflow("w")
    for index in range(300):
        wf.add(f"p{index}", lambda: None, after=[f"p{index - 1}"] if index else [])
    widget = DagWidget(wf)
    updates: list[Any] = []
    widget.observe(updates.append, names="phases")

    run = wf.run(widget=widget)
    widget.flush()

    assert widget.execution["status"] == "completed"
    assert widget.execution["last_seq"] == len(run.events())
    assert {p["status"] for p in widget.phases.values()} == {"completed"}
    assert len(widget.phases) == 300
    assert len(updates) < len(run.events()) / 10


def test_widget_toasts_name_the_failed_phase_and_warn_on_retry() -> None:
    wf = Workflow("w")
    wf.add("flaky", lambda attempt: 1 / (attempt - 1), retries=1)
    wf.add("broken", lambda flaky: {}["missing"], after="flaky")
    widget = RecordingWidget(wf)

    wf.run(widget=widget, retry_backoff_s=0.01)
    widget.flush()

    levels = [(m["level"], m["text"]) for m in widget.sent if m["type"] == "toast"]
    assert levels[0][0] == "warning" and "'flaky' failed on attempt 1" in levels[0][1]
    assert levels[-1] == (
        "error",
        "Workflow failed: phase 'broken' failed: KeyError: 'missing'",
    )
    assert len({m["id"] for m in widget.sent}) == len(widget.sent)


def test_widget_cancel_message_cancels_the_followed_run() -> None:
    started = threading.Event()
    release = threading.Event()
    wf = Workflow("w")
    wf.add("block", lambda: started.set() or release.wait(10))
    widget = DagWidget(wf)
    run = wf.start(widget=widget)
    assert started.wait(5)

    widget._handle_message(widget, {"type": "cancel"}, [])
    run.wait(10)
    release.set()
    widget.flush()

    assert run.status == "cancelled"
    assert widget.execution["status"] == "cancelled"


def test_widget_follows_a_run_that_already_finished() -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 1)
    wf.add("b", lambda a: 1 / 0, after="a")
    run = wf.run()
    widget = DagWidget(wf)

    widget.follow(run)
    widget.flush()

    assert widget.execution["status"] == "failed"
    assert widget.phases["b"]["status"] == "failed"


def test_widget_view_key_is_random_per_widget_and_kept_in_its_state() -> None:
    first, second = DagWidget(), DagWidget()

    assert re.fullmatch(r"[0-9a-f]{16}", first.view_key)
    assert first.view_key != second.view_key
    assert first.get_state()["view_key"] == first.view_key


def test_widget_view_key_can_be_given_but_not_blank() -> None:
    assert DagWidget(view_key="etl").view_key == "etl"

    with pytest.raises(traitlets.TraitError, match="view_key"):
        DagWidget(view_key="   ")


def test_widget_notebook_key_names_the_session_without_its_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/secret-client/report.ipynb")
    here = DagWidget()
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/other.ipynb")
    there = DagWidget()
    monkeypatch.delenv("JPY_SESSION_NAME")
    nowhere = DagWidget()

    state = json.dumps(here.get_state())
    assert re.fullmatch(r"[0-9a-f]{16}", here.notebook_key)
    assert here.notebook_key != there.notebook_key
    assert "secret-client" not in state and "report.ipynb" not in state
    assert nowhere.notebook_key == ""


def test_widget_state_of_a_server_run_holds_no_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "jupyter-token-s3cret"
    monkeypatch.setenv("JUPYTER_TOKEN", token)
    monkeypatch.setenv("DAGSTUDIO_TOKEN", token)
    monkeypatch.setenv("JPY_SESSION_NAME", "/srv/notebooks/run.ipynb")
    wf = Workflow("w")
    wf.add("a", command="true")
    execution = {
        "id": "ex-1",
        "workflow": wf.to_dict(),
        "status": "running",
        "last_seq": 1,
        "phases": [{"id": "a", "status": "running", "attempt": 1}],
    }

    class TokenClient:
        url = f"http://127.0.0.1:8888/user/ada/?token={token}"

        def get(self, execution_id: str) -> dict[str, Any]:
            return execution

    widget = DagWidget(wf)
    widget.attach("ex-1", client=TokenClient())  # type: ignore[arg-type]

    state = json.dumps(widget.get_state())
    assert token not in state
    assert widget.server == {"execution_id": "ex-1", "base_url": "/user/ada/"}
    assert set(widget.server) == {"execution_id", "base_url"}
