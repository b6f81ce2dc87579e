"""Re-runs from an earlier execution, and cached phases, in the kernel and on a server.

Which phases ran is counted by their side effects: every phase appends its
id (and, for python phases, what it was given) to a log file, so a phase
skipped as cached or reused from the earlier run leaves no line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagstudio_jupyter import Workflow
from dagstudio_jupyter._cache import KERNEL_CACHE
from dagstudio_jupyter.errors import ConflictError, DagStudioError
from dagstudio_jupyter.rerun import RerunError
from dagstudio_jupyter.store import DuckDBStore

from ._server import DagServer, running_server

API = "dagstudio/api"
FORMAT = "dagstudio.workflow/1"
DONE = frozenset({"completed", "failed", "cancelled"})
# Python phases of the server tests, imported from the server's root folder.
JOBS = '''"""Phases that log each run to the file named by their `log` param."""

import json


def _log(log, entry):
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\\n")


def load(log, size=3):
    _log(log, {"phase": "load"})
    return list(range(size))


def clean(log, load, factor=1):
    _log(log, {"phase": "clean", "got": load})
    return [x * factor for x in load]


def train(log, clean, fail_flag=""):
    import os

    _log(log, {"phase": "train", "got": clean})
    if fail_flag and os.path.exists(fail_flag):
        raise RuntimeError("training data rejected")
    return sum(clean)


def report(log, train):
    _log(log, {"phase": "report", "got": train})
    return f"total {train}"


def side(log):
    _log(log, {"phase": "side"})
    return "side"
'''


def _ran(log: Path) -> list[str]:
    """The phases that ran, in order, from their log lines."""
    if not log.exists():
        return []
    return [json.loads(line)["phase"] for line in log.read_text().splitlines()]


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


# --- kernel runs -----------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_kernel_cache() -> Iterator[None]:
    """Each test starts with no cached results in this process."""
    KERNEL_CACHE.clear()
    yield
    KERNEL_CACHE.clear()


class Counted:
    """A kernel workflow load -> clean -> train -> report, plus `side`."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "ran.log"
        self.fail_flag = tmp_path / "fail"
        self.workflow = self.build()

    def build(self, factor: int = 1) -> Workflow:
        log = self.log

        def note(phase: str, got: Any = None) -> None:
            with open(log, "a", encoding="utf-8") as out:
                out.write(json.dumps({"phase": phase, "got": got}) + "\n")

        wf = Workflow("counted")

        @wf.phase()
        def load() -> list[int]:
            note("load")
            return [1, 2, 3]

        @wf.phase(after=["load"], params={"factor": factor})
        def clean(load: list[int], factor: int) -> list[int]:
            note("clean", load)
            return [x * factor for x in load]

        fail_flag = self.fail_flag

        @wf.phase(after=["clean"])
        def train(clean: list[int]) -> int:
            note("train", clean)
            if fail_flag.exists():
                raise RuntimeError("training data rejected")
            return sum(clean)

        @wf.phase(after=["train"])
        def report(train: int) -> str:
            note("report", train)
            return f"total {train}"

        @wf.phase()
        def side() -> str:
            note("side")
            return "side"

        return wf

    def ran(self) -> list[str]:
        ran = _ran(self.log)
        self.log.unlink(missing_ok=True)
        return ran


def _statuses(run: Any) -> dict[str, str]:
    return {pid: phase["status"] for pid, phase in run.phases.items()}


def test_kernel_rerun_one_phase_reuses_upstream_results(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    first = scene.workflow.run()
    assert sorted(scene.ran()) == ["clean", "load", "report", "side", "train"]

    again = first.rerun("clean")

    assert scene.ran() == ["clean"]
    assert _entries_of(tmp_path) == []
    assert again.status == "completed"
    assert again.execution()["derived_from"] == {
        "execution_id": first.id,
        "mode": "phase",
        "phase_id": "clean",
    }
    assert again.phases["clean"]["from_execution"] is None
    for pid in ("load", "train", "report", "side"):
        assert again.phases[pid]["status"] == "completed"
        assert again.phases[pid]["from_execution"] == first.id
    assert again.results["load"] == [1, 2, 3]


def _entries_of(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "ran.log"
    return _entries(log) if log.exists() else []


def test_kernel_rerun_downstream_runs_the_phase_and_all_below_it(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    first = scene.workflow.run()
    scene.ran()

    again = first.rerun("clean", downstream=True)

    assert scene.ran() == ["clean", "train", "report"]
    assert _statuses(again) == dict.fromkeys(_statuses(first), "completed")
    assert again.phases["load"]["from_execution"] == first.id
    assert again.phases["side"]["from_execution"] == first.id
    assert again.result("report") == "total 6"


def test_kernel_resume_runs_only_what_did_not_complete(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    scene.fail_flag.touch()
    failed = scene.workflow.run()
    assert failed.status == "failed"
    assert _statuses(failed)["report"] == "skipped"
    scene.ran()
    scene.fail_flag.unlink()

    resumed = failed.resume()

    assert scene.ran() == ["train", "report"]
    assert resumed.status == "completed"
    assert resumed.execution()["derived_from"]["mode"] == "resume"
    assert resumed.result("report") == "total 6"


def test_kernel_rerun_refusals_name_the_problem(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    scene.fail_flag.touch()
    failed = scene.workflow.run()

    with pytest.raises(RerunError, match="'report' needs upstream phase 'train'"):
        failed.rerun("report")
    with pytest.raises(RerunError, match="phase_id must name a phase"):
        failed.rerun("ghost")
    completed = scene.workflow.start()
    completed.wait()
    scene.fail_flag.unlink()
    done = scene.workflow.run()
    with pytest.raises(ConflictError, match="nothing to resume"):
        done.resume()


def test_kernel_rerun_of_a_running_run_is_refused(tmp_path: Path) -> None:
    wf = Workflow("slow")
    wf.add("wait", command="sleep 5")
    run = wf.start()
    try:
        with pytest.raises(DagStudioError, match="wait for it to finish"):
            run.rerun("wait")
    finally:
        run.cancel()
        run.wait(30)


def test_kernel_cache_skips_unchanged_phases_and_shows_them_cached(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    first = scene.workflow.run(cache=True)
    assert sorted(scene.ran()) == ["clean", "load", "report", "side", "train"]

    second = scene.workflow.run(cache=True)

    assert scene.ran() == []
    assert set(_statuses(second).values()) == {"cached"}
    assert {p["from_execution"] for p in second.phases.values()} == {first.id}
    assert second.results == first.results
    assert second.status == "completed"


def test_kernel_changed_params_rerun_exactly_that_phase_and_its_descendants(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    scene.workflow.run(cache=True)
    scene.ran()

    changed = scene.build(factor=2).run(cache=True)

    assert scene.ran() == ["clean", "train", "report"]
    assert _statuses(changed) == {
        "load": "cached",
        "clean": "completed",
        "train": "completed",
        "report": "completed",
        "side": "cached",
    }
    assert changed.result("report") == "total 12"


def test_kernel_changed_code_is_not_taken_from_the_cache(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"

    def note() -> None:
        with log.open("a") as out:
            out.write("step\n")

    def build(offset: int) -> Workflow:
        wf = Workflow("code")
        if offset == 0:

            def step() -> int:
                note()
                return 0
        else:

            def step() -> int:
                note()
                return 1

        wf.add("step", step)
        return wf

    build(0).run(cache=True)
    build(0).run(cache=True)
    assert log.read_text().splitlines() == ["step"]
    changed = build(1).run(cache=True)
    assert log.read_text().splitlines() == ["step", "step"]
    assert changed.result("step") == 1


def test_kernel_force_runs_a_cached_phase_again(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    scene.workflow.run(cache=True)
    scene.ran()

    forced = scene.workflow.run(cache=True, force=["train"])

    # train's result is unchanged, so report below it stays cached.
    assert scene.ran() == ["train"]
    assert _statuses(forced)["train"] == "completed"
    assert _statuses(forced)["report"] == "cached"
    with pytest.raises(DagStudioError, match="unknown phase"):
        scene.workflow.run(cache=True, force=["ghost"])


def test_kernel_phase_cache_false_always_runs(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    wf = Workflow("opt-out")
    wf.add("pure", lambda: 1)
    wf.add("effect", command=f'echo effect >> "{log}"', after=["pure"], cache=False)
    wf.run(cache=True)

    again = wf.run(cache=True)

    assert log.read_text().splitlines() == ["effect", "effect"]
    assert _statuses(again) == {"pure": "cached", "effect": "completed"}


def test_kernel_without_cache_option_everything_runs(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    scene.workflow.run()
    scene.ran()
    scene.workflow.run()
    assert sorted(scene.ran()) == ["clean", "load", "report", "side", "train"]


def test_kernel_rerun_on_a_file_store_links_both_executions(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    with DuckDBStore(tmp_path / "runs.duckdb") as store:
        first = scene.workflow.run(store=store)
        again = first.rerun("train", downstream=True)
        stored = store.get_execution(again.id)
        rows, _ = store.list_executions()

    assert stored["derived_from"]["execution_id"] == first.id
    by_id = {row["id"]: row for row in rows}
    assert by_id[again.id]["derived_from"]["phase_id"] == "train"
    assert by_id[first.id]["derived_from"] is None
    states = {p["id"]: p for p in stored["phases"]}
    assert states["load"]["from_execution"] == first.id
    assert states["train"]["from_execution"] is None


# --- server runs -------------------------------------------------------------


@pytest.fixture
def dag_server(tmp_path: Path) -> Iterator[DagServer]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "rerunjobs.py").write_text(JOBS, encoding="utf-8")
    with running_server(
        tmp_path / "home", root_dir=root, store_path=tmp_path / "store.duckdb"
    ) as server:
        yield server


def _workflow(log: Path, fail_flag: Path, factor: int = 1, cache: Any = None) -> dict:
    def phase(pid: str, after: list[str], **params: Any) -> dict[str, Any]:
        doc = {
            "id": pid,
            "kind": "python",
            "ref": f"rerunjobs:{pid}",
            "after": after,
            "params": {"log": str(log), **params},
        }
        if cache is not None:
            doc["cache"] = cache
        return doc

    return {
        "format": FORMAT,
        "id": "counted",
        "phases": [
            phase("load", []),
            phase("clean", ["load"], factor=factor),
            phase("train", ["clean"], fail_flag=str(fail_flag)),
            phase("report", ["train"]),
            phase("side", []),
        ],
    }


def _wait(server: DagServer, execution_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = server.api("GET", f"{API}/executions/{execution_id}")
        assert status == 200, body
        if body["status"] in DONE:
            return body
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish in {timeout} s")


def _start(server: DagServer, workflow: dict, **options: Any) -> dict:
    body = {"workflow": workflow, "options": options}
    status, execution = server.api("POST", f"{API}/executions", body)
    assert status == 201, execution
    return _wait(server, execution["id"])


def _rerun(server: DagServer, execution_id: str, **body: Any) -> tuple[int, dict]:
    return server.api("POST", f"{API}/executions/{execution_id}/rerun", body)


def _phase_states(execution: dict) -> dict[str, dict[str, Any]]:
    return {phase["id"]: phase for phase in execution["phases"]}


def test_server_rerun_modes_run_only_the_selected_phases(
    dag_server: DagServer, tmp_path: Path
) -> None:
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    first = _start(dag_server, _workflow(log, flag))
    assert first["status"] == "completed"
    log.unlink()

    status, started = _rerun(dag_server, first["id"], mode="phase", phase_id="train")
    assert status == 201, started
    one = _wait(dag_server, started["id"])
    assert _ran(log) == ["train"]
    # Its upstream result came from the first execution's stored events.
    assert _entries(log)[0]["got"] == [0, 1, 2]
    log.unlink()

    status, started = _rerun(
        dag_server, first["id"], mode="downstream", phase_id="clean"
    )
    assert status == 201, started
    below = _wait(dag_server, started["id"])
    assert _ran(log) == ["clean", "train", "report"]

    for execution, phase_id, mode in (
        (one, "train", "phase"),
        (below, "clean", "downstream"),
    ):
        assert execution["status"] == "completed"
        assert execution["derived_from"] == {
            "execution_id": first["id"],
            "mode": mode,
            "phase_id": phase_id,
        }
    states = _phase_states(below)
    assert states["load"]["status"] == "completed"
    assert states["load"]["from_execution"] == first["id"]
    assert states["clean"]["from_execution"] is None
    status, page = dag_server.api("GET", f"{API}/executions")
    rows = {row["id"]: row for row in page["executions"]}
    assert rows[below["id"]]["derived_from"]["execution_id"] == first["id"]


def test_server_resume_from_failure_reuses_completed_results(
    dag_server: DagServer, tmp_path: Path
) -> None:
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    flag.touch()
    failed = _start(dag_server, _workflow(log, flag))
    assert failed["status"] == "failed"
    log.unlink()
    flag.unlink()

    status, started = _rerun(dag_server, failed["id"], mode="resume")
    assert status == 201, started
    # The answer already shows the reused phases in place.
    assert _phase_states(started)["load"]["status"] == "completed"
    resumed = _wait(dag_server, started["id"])

    assert _ran(log) == ["train", "report"]
    assert _entries(log)[0]["got"] == [0, 1, 2]
    assert resumed["status"] == "completed"
    events = dag_server.api("GET", f"{API}/executions/{resumed['id']}/events")[1]
    reused = [e for e in events["events"] if e.get("from_execution") == failed["id"]]
    assert sorted(e["phase_id"] for e in reused) == ["clean", "load", "side"]
    # The failed execution itself is untouched.
    assert _wait(dag_server, failed["id"])["status"] == "failed"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"mode": "sideways", "phase_id": "train"}, 400, "mode must be one of"),
        ({"mode": "phase", "phase_id": "ghost"}, 400, "'ghost'"),
        # A huge value is named, not echoed whole (nor written whole to the log).
        ({"mode": "phase", "phase_id": "p" * 100_000}, 400, "'pppp"),
        ({"mode": "m" * 100_000, "phase_id": "train"}, 400, "mode must be one of"),
        ({"mode": "phase"}, 400, "phase_id must name a phase"),
        ({"mode": "resume", "phase_id": "train"}, 400, "resume takes no phase_id"),
        ({"mode": "phase", "phase_id": "report"}, 400, "needs upstream phase 'train'"),
        ({"phase_id": "train"}, 400, "body must be"),
        ({"mode": "phase", "phase_id": "train", "colour": 1}, 400, "'colour'"),
        (
            {"mode": "phase", "phase_id": "load", "options": {"force": ["ghost"]}},
            400,
            "unknown phase(s) ['ghost']",
        ),
    ],
)
def test_server_rerun_refusals_are_4xx_naming_the_problem(
    dag_server: DagServer, tmp_path: Path, body: dict, status: int, words: str
) -> None:
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    flag.touch()
    failed = _start(dag_server, _workflow(log, flag))
    count = len(dag_server.api("GET", f"{API}/executions")[1]["executions"])

    answer, error = _rerun(dag_server, failed["id"], **body)

    assert answer == status, error
    assert words in error["message"]
    assert len(error["message"]) < 1000
    # Nothing was stored for a refused re-run.
    assert len(dag_server.api("GET", f"{API}/executions")[1]["executions"]) == count


def test_server_rerun_conflicts_and_unknown_ids(
    dag_server: DagServer, tmp_path: Path
) -> None:
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    done = _start(dag_server, _workflow(log, flag))

    status, error = _rerun(dag_server, done["id"], mode="resume")
    assert (status, error["error"]) == (409, "conflict")
    assert "nothing to resume" in error["message"]
    status, error = _rerun(dag_server, "0" * 32, mode="resume")
    assert (status, error["error"]) == (404, "not_found")


def test_server_cache_skips_unchanged_phases_and_reruns_changed_ones(
    dag_server: DagServer, tmp_path: Path
) -> None:
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    first = _start(dag_server, _workflow(log, flag), cache=True)
    assert sorted(_ran(log)) == ["clean", "load", "report", "side", "train"]
    log.unlink()

    second = _start(dag_server, _workflow(log, flag), cache=True)
    assert _ran(log) == []
    states = _phase_states(second)
    assert {p["status"] for p in states.values()} == {"cached"}
    assert {p["from_execution"] for p in states.values()} == {first["id"]}

    changed = _start(dag_server, _workflow(log, flag, factor=3), cache=True)
    assert _ran(log) == ["clean", "train", "report"]
    states = _phase_states(changed)
    assert states["load"]["status"] == states["side"]["status"] == "cached"
    assert {states[p]["status"] for p in ("clean", "train", "report")} == {"completed"}
    log.unlink()

    forced = _start(dag_server, _workflow(log, flag), cache=True, force=["load"])
    # load's result is the same, so clean below it comes from the cache again:
    # the one computed by the first execution.
    assert _ran(log) == ["load"]
    assert _phase_states(forced)["clean"]["from_execution"] == first["id"]


def test_server_cache_survives_a_restart_and_is_per_phase_opt_in(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "rerunjobs.py").write_text(JOBS, encoding="utf-8")
    log, flag = tmp_path / "ran.log", tmp_path / "fail"
    options = {"root_dir": root, "store_path": tmp_path / "store.duckdb"}
    with running_server(tmp_path / "home", **options) as server:
        _start(server, _workflow(log, flag, cache=True))
    log.unlink()
    with running_server(tmp_path / "home", **options) as server:
        # The phases opt in themselves: no run option needed.
        again = _start(server, _workflow(log, flag, cache=True))
        plain = _start(server, _workflow(log, flag))

    assert {p["status"] for p in again["phases"]} == {"cached"}
    assert {p["status"] for p in plain["phases"]} == {"completed"}
    assert sorted(_ran(log)) == ["clean", "load", "report", "side", "train"]


def test_store_upgrades_a_version_1_file_keeping_its_executions(
    tmp_path: Path,
) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "CREATE TABLE executions (id TEXT PRIMARY KEY, name TEXT, owner TEXT,"
            " status TEXT NOT NULL, workflow JSON NOT NULL, created_at TEXT NOT NULL,"
            " created_us BIGINT NOT NULL, started_at TEXT, finished_at TEXT,"
            " error TEXT, last_seq BIGINT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE phases (execution_id TEXT, id TEXT, ordinal INTEGER,"
            " status TEXT, attempt INTEGER, started_at TEXT, finished_at TEXT,"
            " error TEXT, PRIMARY KEY (execution_id, id))"
        )
        conn.execute(
            'CREATE TABLE events (execution_id TEXT, seq BIGINT, "at" TEXT,'
            " phase_id TEXT, status TEXT, attempt INTEGER, error TEXT, extra JSON,"
            " PRIMARY KEY (execution_id, seq))"
        )
        workflow = {"format": FORMAT, "id": "old", "phases": [{"id": "a"}]}
        conn.execute(
            "INSERT INTO executions VALUES ('e1', 'old', 'ada', 'completed', ?,"
            " '2026-01-01T00:00:00Z', 1767225600000000, NULL, NULL, NULL, 0)",
            [json.dumps(workflow)],
        )
        conn.execute(
            "INSERT INTO phases VALUES ('e1', 'a', 0, 'completed', 1, NULL, NULL, NULL)"
        )

    with DuckDBStore(path) as store:
        execution = store.get_execution("e1")

    assert execution["derived_from"] is None
    assert execution["phases"][0]["status"] == "completed"
    assert execution["phases"][0]["from_execution"] is None


# --- the widget in kernel mode ---------------------------------------------


def _wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_widget_rerun_message_starts_a_derived_run_and_follows_it(
    tmp_path: Path,
) -> None:
    from dagstudio_jupyter.widget import DagWidget

    scene = Counted(tmp_path)
    widget = DagWidget(flush_interval_s=0.01)
    first = scene.workflow.run(widget=widget)
    scene.ran()

    widget._handle_message(
        widget, {"type": "rerun", "mode": "downstream", "phase_id": "train"}, []
    )
    derived = widget._run
    assert derived is not None and derived is not first
    derived.wait(30)
    _wait_for(lambda: widget.execution.get("status") == "completed")

    assert scene.ran() == ["train", "report"]
    assert widget.execution["id"] == derived.id
    assert widget.execution["derived_from"] == {
        "execution_id": first.id,
        "mode": "downstream",
        "phase_id": "train",
    }
    assert widget.phases["load"]["from_execution"] == first.id
    assert widget.phases["train"]["from_execution"] is None

    widget._handle_message(widget, {"type": "follow_source"}, [])
    assert widget._run is first
    _wait_for(lambda: widget.execution.get("id") == first.id)
    assert widget.execution["derived_from"] is None


def test_widget_rerun_message_refused_sends_an_error_toast(tmp_path: Path) -> None:
    from dagstudio_jupyter.widget import DagWidget

    scene = Counted(tmp_path)
    scene.fail_flag.touch()
    widget = DagWidget(flush_interval_s=0.01)
    failed = scene.workflow.run(widget=widget)
    sent: list[dict[str, Any]] = []
    widget.send = sent.append  # type: ignore[method-assign]

    widget._handle_message(
        widget, {"type": "rerun", "mode": "phase", "phase_id": "report"}, []
    )

    assert widget._run is failed  # nothing new started
    assert len(sent) == 1 and sent[0]["level"] == "error"
    assert "'report' needs upstream phase 'train'" in sent[0]["text"]


def test_kernel_resume_with_an_edited_workflow_reruns_the_changed_phase_and_below(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    scene.fail_flag.touch()
    failed = scene.workflow.run()
    scene.ran()
    scene.fail_flag.unlink()

    resumed = failed.resume(workflow=scene.build(factor=2))

    # clean's params changed: it runs with everything below it; load and side
    # are kept, train ran anyway (it had failed).
    assert scene.ran() == ["clean", "train", "report"]
    assert resumed.result("report") == "total 12"
    assert resumed.phases["load"]["from_execution"] == failed.id


def test_kernel_resume_with_edited_code_reruns_the_changed_phase(
    tmp_path: Path,
) -> None:
    def build(value: int) -> Workflow:
        wf = Workflow("code-edit")
        if value == 1:

            def a() -> int:
                return 1
        else:

            def a() -> int:
                return 5

        def b(a: int) -> int:
            if a == 1:
                raise ValueError("a is still 1")
            return a

        wf.add("a", a)
        wf.add("b", b, after="a")
        return wf

    failed = build(1).run()
    resumed = failed.resume(workflow=build(5))

    assert resumed.status == "completed", resumed.error
    assert resumed.results == {"a": 5, "b": 5}


@pytest.mark.parametrize("bound", ["default", "partial", "object"])
def test_kernel_cache_sees_values_bound_into_a_callable(bound: str) -> None:
    import functools

    class Scale:
        def __init__(self, k: int) -> None:
            self.k = k

        def __call__(self) -> int:
            return self.k * 10

    def scaled(k: int) -> int:
        return k * 10

    def build(k: int) -> Workflow:
        wf = Workflow("bound")
        funcs = {
            "default": lambda k=k: k * 10,
            "partial": functools.partial(scaled, k=k),
            "object": Scale(k),
        }
        wf.add("a", funcs[bound])
        return wf

    first = build(1).run(cache=True)
    same = build(1).run(cache=True)
    other = build(2).run(cache=True)

    assert first.result("a") == 10
    assert same.phases["a"]["status"] == "cached"
    assert other.phases["a"]["status"] == "completed"
    assert other.result("a") == 20


def test_kernel_cache_larger_workflow_than_the_cache_still_finds_most() -> None:
    import asyncio

    from dagstudio_jupyter._cache import MemoryCache
    from dagstudio_jupyter.runner import Runner

    wf = Workflow("wide")
    for number in range(30):
        wf.add(f"p{number}", lambda number=number: number)
    cache = MemoryCache(entries=20)

    def run() -> dict[str, str]:
        runner = Runner(wf, cache=cache, cache_default=True)
        state = asyncio.run(runner.run())
        return {pid: p["status"] for pid, p in state.phases.items()}

    run()
    second = run()

    # 20 of 30 fit; without trimming at the end of a run the lookups of the
    # second run evicted each other and nearly everything ran again.
    assert list(second.values()).count("cached") == 20


def test_kernel_rerun_downstream_runs_every_phase_below_even_with_cache(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    first = scene.workflow.run(cache=True)
    scene.ran()

    again = first.rerun("clean", downstream=True)

    assert scene.ran() == ["clean", "train", "report"]
    assert again.phases["report"]["status"] == "completed"


def test_kernel_from_execution_names_the_run_that_computed_the_result(
    tmp_path: Path,
) -> None:
    scene = Counted(tmp_path)
    computed = scene.workflow.run(cache=True)
    cached = scene.workflow.run(cache=True)
    assert cached.phases["load"]["from_execution"] == computed.id

    derived = cached.rerun("report")
    again = derived.rerun("report")

    assert derived.phases["load"]["status"] == "cached"
    assert derived.phases["load"]["from_execution"] == computed.id
    assert again.phases["load"]["from_execution"] == computed.id
    assert again.phases["report"]["from_execution"] is None


def test_kernel_rerun_refuses_a_workflow_that_is_not_one(tmp_path: Path) -> None:
    scene = Counted(tmp_path)
    scene.fail_flag.touch()
    failed = scene.workflow.run()

    with pytest.raises(TypeError, match="workflow must be a Workflow, got str"):
        failed.resume(workflow="notawf")  # type: ignore[arg-type]
