"""The `dagstudio` command, run as a subprocess, here and against a real server."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagstudio_jupyter.store import DuckDBStore

from ._lab import free_port
from .test_client import (
    CLIENT_ENVS,
    SLEEPY,
    SMALL,
    JupyterServer,
    logging_chain,
    ran,
    running_server,
    shell,
    workflow,
)

COMMAND = [sys.executable, "-m", "dagstudio_jupyter.cli"]
GOOD = workflow(
    shell("fetch", "echo fetched"),
    {"id": "clean", "kind": "python", "ref": "os:getcwd", "after": ["fetch"]},
    {"id": "report", "kind": "noop", "after": ["clean"]},
    id="good",
)
FAILING = workflow(
    shell("fetch", "echo one; echo 'disk is full' >&2; exit 3"),
    {"id": "report", "kind": "noop", "after": ["fetch"]},
    id="failing",
)


@pytest.fixture(scope="module")
def dagstudio_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterServer]:
    """A real Jupyter server with DAG Studio, on a base URL, for this module."""
    with running_server(tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture
def dagstudio_files(tmp_path: Path) -> Any:
    """Write a workflow document to a file; return its path."""

    def write(doc: Any, name: str = "workflow.json") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return write


def local_env(tmp_path: Path) -> dict[str, str]:
    """No server settings, and a runtime dir with no running servers."""
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_ENVS}
    runtime = tmp_path / "no-runtime"
    runtime.mkdir(exist_ok=True)
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    return env


def dagstudio(
    *args: str | Path, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_run_completes_with_a_line_per_state_change(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    path = dagstudio_files(GOOD)

    result = dagstudio("run", path, env=local_env(tmp_path), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for phase in ("fetch", "clean", "report"):
        for status in ("queued", "running", "completed"):
            assert any(line.endswith(f"] {phase}: {status}") for line in lines), lines
    assert any(line.endswith("] execution completed") for line in lines)
    assert lines[-1].startswith("dagstudio: completed (3 completed)")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_run_failing_workflow_exits_1_with_the_output_tail(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    path = dagstudio_files(FAILING)

    result = dagstudio("run", path, "--max-parallel", "1", env=local_env(tmp_path))

    assert result.returncode == 1, result.stderr
    assert "fetch: failed: command exited with status 3: disk is full" in result.stderr
    assert "| disk is full" in result.stderr
    assert "report: skipped: upstream phase 'fetch' failed" in result.stderr
    assert "dagstudio: failed: phase 'fetch' failed" in result.stderr


@pytest.mark.parametrize(
    ("content", "culprit"),
    [
        (workflow(shell("a", "true", "ghost")), "unknown phase 'ghost'"),
        (workflow(shell("a", "true", "b"), shell("b", "true", "a")), "cycle"),
        (workflow({"id": "a", "kind": "rocket"}), "unknown kind 'rocket'"),
        ('{"id": "x", "phases": [', "not valid JSON"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_cli_run_invalid_workflow_exits_2_naming_the_problem(
    dagstudio_files: Any, tmp_path: Path, content: Any, culprit: str
) -> None:
    path = dagstudio_files(content)

    result = dagstudio("run", path, env=local_env(tmp_path))

    assert result.returncode == 2
    assert result.stderr.startswith("dagstudio: error: invalid workflow in ")
    assert culprit in result.stderr and "Traceback" not in result.stderr


def test_cli_run_missing_file_exits_2(tmp_path: Path) -> None:
    result = dagstudio("run", tmp_path / "absent.json", env=local_env(tmp_path))

    assert result.returncode == 2
    assert (
        "cannot read workflow file" in result.stderr and "absent.json" in result.stderr
    )


def test_cli_run_bad_max_parallel_exits_2(dagstudio_files: Any, tmp_path: Path) -> None:
    result = dagstudio(
        "run", dagstudio_files(GOOD), "--max-parallel", "0", env=local_env(tmp_path)
    )

    assert result.returncode == 2 and "expected 1 or more" in result.stderr


def test_cli_run_store_keeps_the_execution(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    store_path = tmp_path / "runs.duckdb"

    result = dagstudio(
        "run", dagstudio_files(GOOD), "--store", store_path, env=local_env(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    execution_id = result.stderr.splitlines()[0].rsplit(" ", 1)[1]
    with DuckDBStore(store_path) as store:
        assert store.get_execution(execution_id)["status"] == "completed"


def test_cli_run_ctrl_c_cancels_and_exits_130(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    path = dagstudio_files(SLEEPY)
    process = subprocess.Popen(
        [*COMMAND, "run", str(path)],
        env=local_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stream = process.stderr
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in stream], daemon=True
    )
    reader.start()
    seen: list[str] = []
    try:
        while not any("nap: running" in line for line in seen):
            seen.append(lines.get(timeout=20))
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    stream.close()
    while not lines.empty():
        seen.append(lines.get())

    assert code == 130
    assert time.monotonic() - started < 10
    text = "".join(seen)
    assert "cancelling the run" in text
    assert "nap: cancelled" in text and "execution cancelled" in text


def test_cli_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("dagstudio")

    result = subprocess.run([script, "--help"], capture_output=True, text=True)

    assert result.returncode == 0
    for command in ("run", "submit", "ls", "show", "cancel"):
        assert command in result.stdout


def test_cli_has_no_token_option(dagstudio_files: Any, tmp_path: Path) -> None:
    env = local_env(tmp_path)
    path = dagstudio_files(GOOD)

    spelled = dagstudio("submit", path, "--token", "s3cr3t-value", env=env)
    prefix = dagstudio("ls", "--tok=s3cr3t-value", env=env)
    misused = dagstudio("ls", "--token-env", "s3cr3t-value", env=env)
    help_text = dagstudio("submit", "--help", env=env).stdout

    assert spelled.returncode == prefix.returncode == misused.returncode == 2
    assert "dagstudio: error: there is no --token option" in spelled.stderr
    assert "--token-env takes the name of an environment variable" in misused.stderr
    for result in (spelled, prefix, misused):
        assert "s3cr3t-value" not in result.stderr + result.stdout
    assert "process list" in " ".join(help_text.split())


def test_cli_submit_wait_follows_events_to_completed(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    path = dagstudio_files(GOOD)

    result = dagstudio("submit", path, "--wait", env=dagstudio_server.client_env())

    assert result.returncode == 0, result.stderr
    execution_id = result.stdout.strip()
    assert len(execution_id) == 32
    assert "] clean: completed" in result.stderr
    assert "] execution completed" in result.stderr


def test_cli_submit_wait_failing_exits_1(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    result = dagstudio(
        "submit", dagstudio_files(FAILING), "--wait", env=dagstudio_server.client_env()
    )

    assert result.returncode == 1, result.stderr
    assert "fetch: failed" in result.stderr and "| disk is full" in result.stderr


def test_cli_submit_with_url_and_token_env(
    dagstudio_server: JupyterServer, dagstudio_files: Any, tmp_path: Path
) -> None:
    env = local_env(tmp_path)
    env["MY_JUPYTER_SECRET"] = dagstudio_server.token

    result = dagstudio(
        "submit",
        dagstudio_files(SMALL),
        "--url",
        dagstudio_server.url,
        "--token-env",
        "MY_JUPYTER_SECRET",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 32 and result.stderr == ""


def test_cli_submit_token_env_naming_an_unset_variable_exits_2(
    dagstudio_server: JupyterServer, dagstudio_files: Any, tmp_path: Path
) -> None:
    result = dagstudio(
        "submit",
        dagstudio_files(SMALL),
        "--url",
        dagstudio_server.url,
        "--token-env",
        "NOT_SET_ANYWHERE",
        env=local_env(tmp_path),
    )

    assert result.returncode == 2
    assert "NOT_SET_ANYWHERE" in result.stderr and "not set" in result.stderr


def test_cli_submit_bad_token_exits_1_without_showing_it(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env(DAGSTUDIO_TOKEN="wrong-token-123")

    result = dagstudio("submit", dagstudio_files(SMALL), env=env)

    assert result.returncode == 1
    assert result.stderr.startswith("dagstudio: error: ")
    assert "did not accept the token" in result.stderr
    assert "wrong-token-123" not in result.stderr + result.stdout


def test_cli_submit_invalid_workflow_exits_2(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    local = dagstudio(
        "submit",
        dagstudio_files(workflow(shell("a", "true", "ghost"))),
        env=dagstudio_server.client_env(),
    )
    outside = dagstudio(
        "submit",
        dagstudio_files(workflow({"id": "s", "kind": "script", "path": "../../x.py"})),
        env=dagstudio_server.client_env(),
    )

    assert local.returncode == 2 and "unknown phase 'ghost'" in local.stderr
    assert outside.returncode == 2, outside.stderr
    assert "outside the server's root" in outside.stderr


def test_cli_without_a_server_exits_with_a_clear_message(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    env = local_env(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/"

    nowhere = dagstudio("ls", env=env)
    refused = dagstudio("ls", "--url", url, env={**env, "DAGSTUDIO_TOKEN": "t"})

    assert nowhere.returncode == 2
    assert "no running Jupyter server" in nowhere.stderr and "--url" in nowhere.stderr
    assert refused.returncode == 1
    assert f"cannot reach the Jupyter server at {url}" in refused.stderr


def test_cli_ls_shows_a_table_and_json(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    submitted = dagstudio("submit", dagstudio_files(GOOD), "--wait", env=env)
    execution_id = submitted.stdout.strip()

    table = dagstudio("ls", env=env)
    as_json = dagstudio("ls", "--json", "--limit", "5", env=env)
    failed_only = dagstudio("ls", "--status", "failed", "--json", env=env)
    bad_status = dagstudio("ls", "--status", "sleeping", env=env)

    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "PROGRESS", "OWNER", "STARTED"]
    mine = next(row for row in rows if row.startswith(execution_id[:8]))
    assert "Workflow good" in mine and "completed" in mine and "3/3" in mine
    listed = json.loads(as_json.stdout)
    assert len(listed) <= 5 and listed[0]["id"] == execution_id
    assert all(e["status"] == "failed" for e in json.loads(failed_only.stdout))
    assert bad_status.returncode == 2


def test_cli_show_by_id_and_by_prefix(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    execution_id = dagstudio(
        "submit", dagstudio_files(FAILING), "--wait", env=env
    ).stdout.strip()

    full = dagstudio("show", execution_id, env=env)
    short = dagstudio("show", execution_id[:10], env=env)
    as_json = dagstudio("show", execution_id, "--json", env=env)
    unknown = dagstudio("show", "f" * 32, env=env)

    assert full.returncode == 0, full.stderr
    assert f"execution  {execution_id}" in full.stdout
    assert "status     failed" in full.stdout
    assert any(
        line.split()[:3] == ["fetch", "failed", "1"]
        for line in full.stdout.splitlines()
    )
    assert short.returncode == 0 and f"execution  {execution_id}" in short.stdout
    assert json.loads(as_json.stdout)["phases"][1]["status"] == "skipped"
    assert unknown.returncode == 1 and "not found" in unknown.stderr


def test_cli_cancel_a_running_execution(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    execution_id = dagstudio("submit", dagstudio_files(SLEEPY), env=env).stdout.strip()
    time.sleep(0.5)

    cancelled = dagstudio("cancel", execution_id, env=env)
    again = dagstudio("cancel", execution_id, env=env)

    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"{execution_id} cancelled"
    assert again.returncode == 1 and "not running" in again.stderr


def test_cli_resume_and_rerun_follow_derived_executions(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    flag = dagstudio_server.root_dir / f"flag-{time.monotonic_ns()}"
    flag.touch()
    doc, log = logging_chain(dagstudio_server.root_dir, flag)
    failed = dagstudio("submit", dagstudio_files(doc), "--wait", env=env)
    source = failed.stdout.strip()
    flag.unlink()

    resumed = dagstudio("resume", source[:12], "--wait", env=env)
    resumed_id = resumed.stdout.strip()
    again = dagstudio("rerun", resumed_id, "b", "--downstream", "--wait", env=env)
    again_id = again.stdout.strip()
    only_b = dagstudio("rerun", again_id, "b", env=env)
    shown = dagstudio("show", again_id, env=env)
    table = dagstudio("ls", "--limit", "5", env=env)

    assert failed.returncode == 1, failed.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert f"derived from {source[:8]} (resumed)" in resumed.stderr
    assert f"] a: completed (result of {source[:8]})" in resumed.stderr
    assert "] b: running" in resumed.stderr and "] c: completed" in resumed.stderr
    assert again.returncode == 0, again.stderr
    assert f"derived from {resumed_id[:8]} (ran 'b' and downstream)" in again.stderr
    assert only_b.returncode == 0 and len(only_b.stdout.strip()) == 32
    assert only_b.stderr == ""
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"derived    from {resumed_id[:8]} (ran 'b' and downstream)" in lines
    header = next(line for line in lines if line.startswith("PHASE"))
    assert header.split() == [
        "PHASE",
        "STATUS",
        "ATTEMPT",
        "STARTED",
        "DURATION",
        "FROM",
        "ERROR",
    ]
    # a's result was computed by the first run, which both later ones reused.
    assert any(
        line.split()[:2] == ["a", "completed"] and source[:8] in line
        for line in lines
    )
    assert table.stdout.splitlines()[0].split()[-1] == "SOURCE"
    row = next(r for r in table.stdout.splitlines() if r.startswith(again_id[:8]))
    assert row.endswith(f"{resumed_id[:8]} (ran 'b' and downstream)")
    deadline = time.monotonic() + 30
    while ran(log).count("b") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ran(log) == ["a", "b", "c", "b", "c", "b"]


def test_cli_rerun_and_resume_refusals(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    source = dagstudio(
        "submit", dagstudio_files(GOOD), "--wait", env=env
    ).stdout.strip()

    unknown_phase = dagstudio("rerun", source, "ghost", "--downstream", env=env)
    completed = dagstudio("resume", source, env=env)
    unknown_run = dagstudio("rerun", "f" * 32, "fetch", env=env)
    no_phase = dagstudio("rerun", source, env=env)

    assert unknown_phase.returncode == 2
    assert unknown_phase.stderr.startswith("dagstudio: error: ")
    assert "'ghost'" in unknown_phase.stderr and unknown_phase.stdout == ""
    assert completed.returncode == 1
    assert "nothing to resume" in completed.stderr and "409" in completed.stderr
    assert unknown_run.returncode == 1 and "not found" in unknown_run.stderr
    assert no_phase.returncode == 2 and "PHASE" in no_phase.stderr
    assert "Traceback" not in unknown_phase.stderr + completed.stderr


def test_cli_cache_and_force_flags_reach_the_server(
    dagstudio_server: JupyterServer, dagstudio_files: Any
) -> None:
    env = dagstudio_server.client_env()
    doc, log = logging_chain(dagstudio_server.root_dir)
    path = dagstudio_files(doc)

    def submit(*flags: str) -> subprocess.CompletedProcess[str]:
        return dagstudio("submit", path, "--wait", *flags, env=env)

    first = submit("--cache")
    cached = submit("--cache")
    after_cached = ran(log)
    forced = submit("--cache", "--force", "b", "--force", "c")
    after_forced = ran(log)
    everything = submit("--cache", "--force-all")
    rerun = dagstudio(
        "rerun", first.stdout.strip(), "a", "--downstream", "--cache", "--wait", env=env
    )
    both = submit("--force", "a", "--force-all")
    listed = dagstudio("ls", "--limit", "20", env=env)

    assert first.returncode == cached.returncode == 0, cached.stderr
    assert after_cached == ["a", "b", "c"]
    assert f"] b: cached (result of {first.stdout.strip()[:8]})" in cached.stderr
    assert "dagstudio: completed (3 cached)" in cached.stderr
    assert forced.returncode == 0 and after_forced == ["a", "b", "c", "b", "c"]
    assert "(1 cached, 2 completed)" in forced.stderr
    assert everything.returncode == 0 and "(3 completed)" in everything.stderr
    # Every phase asked for runs, cached or not.
    assert rerun.returncode == 0, rerun.stderr
    assert "(3 completed)" in rerun.stderr
    assert ran(log) == ["a", "b", "c", "b", "c", "a", "b", "c", "a", "b", "c"]
    assert both.returncode == 2 and "do not go together" in both.stderr
    row = next(r for r in listed.stdout.splitlines() if r.startswith(cached.stdout[:8]))
    assert "3/3 (3 cached)" in row


def test_cli_run_takes_the_cache_flags(dagstudio_files: Any, tmp_path: Path) -> None:
    path = dagstudio_files(GOOD)
    env = local_env(tmp_path)

    unknown = dagstudio("run", path, "--force", "ghost", env=env)
    cached = dagstudio("run", path, "--cache", "--force", "fetch", env=env)
    everything = dagstudio("run", path, "--force-all", env=env)

    assert unknown.returncode == 2
    assert "force names unknown phase(s) ['ghost']" in unknown.stderr
    assert cached.returncode == 0, cached.stderr
    assert everything.returncode == 0, everything.stderr


def test_cli_run_with_a_store_file_finds_what_an_earlier_run_cached(
    dagstudio_files: Any, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    path = dagstudio_files(
        workflow(
            shell("fetch", f"echo fetch >> {log}"),
            {
                "id": "mean",
                "kind": "python",
                "ref": "statistics:mean",
                "after": ["fetch"],
                "params": {"data": [1, 2, 3]},
            },
            shell("report", f"echo report >> {log}", "mean"),
            id="cached-here",
        )
    )
    env = local_env(tmp_path)
    store = tmp_path / "runs.duckdb"

    first = dagstudio("run", path, "--cache", "--store", store, env=env)
    second = dagstudio("run", path, "--cache", "--store", store, env=env)
    without = dagstudio("run", path, "--cache", env=env)

    assert first.returncode == second.returncode == without.returncode == 0
    # Each process starts with an empty memory: the second found the file's.
    assert log.read_text().splitlines() == ["fetch", "report", "fetch", "report"]
    assert "3 cached" in second.stderr + second.stdout
