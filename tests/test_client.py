"""The REST client against a real `jupyter server` process with DAG Studio."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from dagstudio_jupyter.client import (
    Client,
    NoExtensionError,
    ServerConflictError,
    ServerError,
    ServerInvalidWorkflowError,
    ServerNotFoundError,
    ServerRun,
    ServerUnreachableError,
    WaitTimeoutError,
    discover_server,
)
from dagstudio_jupyter.errors import (
    ConflictError,
    DagStudioError,
    InvalidWorkflowError,
    NotFoundError,
)
from dagstudio_jupyter.workflow import Workflow

from ._lab import free_port, isolated_env
from ._server import record_log, record_secret, server_command

FORMAT = "dagstudio.workflow/1"
BASE_URL = "/user/tester/"
# Only what the tests need, so the server starts fast and calls no other host.
EXTENSIONS = {
    "dagstudio_jupyter": True,
    "jupyterlab": False,
    "jupyter_lsp": False,
    "notebook_shim": False,
    "jupyter_server_terminals": False,
}
CLIENT_ENVS = (
    "DAGSTUDIO_SERVER_URL",
    "DAGSTUDIO_TOKEN",
    "JUPYTER_TOKEN",
    "JPY_PARENT_PID",
)


@dataclass
class JupyterServer:
    """A `jupyter server` subprocess on 127.0.0.1 with the extension enabled."""

    url: str
    token: str
    root_dir: Path
    runtime_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def client_env(self, **extra: str) -> dict[str, str]:
        """An environment pointing a `dagstudio` command at this server."""
        env = {k: v for k, v in os.environ.items() if k not in CLIENT_ENVS}
        env.update(
            DAGSTUDIO_SERVER_URL=self.url,
            DAGSTUDIO_TOKEN=self.token,
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
        )
        env.update(extra)
        return env

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@contextmanager
def running_server(home: Path) -> Iterator[JupyterServer]:
    """Start `python -m jupyter server` with every Jupyter dir under `home`."""
    token = secrets.token_hex(24)
    env = isolated_env(home, token)
    for name in CLIENT_ENVS[:2] + CLIENT_ENVS[3:]:
        env.pop(name, None)
    env["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
    record_secret(token, "Jupyter token")
    record_secret(env["JWT_SECRET_KEY"], "JWT secret")
    root = home / "root"
    root.mkdir()
    config = {
        "ServerApp": {"jpserver_extensions": EXTENSIONS},
        "DagStudioApp": {"store_path": str(home / "store" / "executions.duckdb")},
    }
    config_file = Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json"
    config_file.write_text(json.dumps(config))
    port = free_port()
    command = server_command(port, root, f"--ServerApp.base_url={BASE_URL}")
    log_path = home / "server.log"
    record_log(log_path)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = JupyterServer(
        f"http://127.0.0.1:{port}{BASE_URL}",
        token,
        root,
        Path(env["JUPYTER_RUNTIME_DIR"]),
        log_path,
        process,
    )
    try:
        wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(server: JupyterServer, timeout: float = 60) -> None:
    """Wait until the server answers `api/status` and our executions route."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {server.token}"}
    for path in ("api/status", "dagstudio/api/executions"):
        request = urllib.request.Request(server.url + path, headers=headers)
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter server did not start:\n{server.log_tail()}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                exc.close()
                raise RuntimeError(
                    f"GET {path} answered {exc.code}:\n{server.log_tail()}"
                ) from None
            except OSError:
                time.sleep(0.1)


@pytest.fixture(scope="module")
def dagstudio_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterServer]:
    """A real Jupyter server with DAG Studio, on a base URL, for this module."""
    with running_server(tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture(scope="module")
def dagstudio_client(dagstudio_server: JupyterServer) -> Client:
    """One client of the module's server."""
    return Client(dagstudio_server.url, dagstudio_server.token, timeout=20)


@pytest.fixture
def dagstudio_clean_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> pytest.MonkeyPatch:
    """No server settings in the environment and an empty runtime dir."""
    for name in CLIENT_ENVS:
        monkeypatch.delenv(name, raising=False)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    return monkeypatch


def workflow(*phases: dict[str, Any], id: str = "wf") -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": id,
        "name": f"Workflow {id}",
        "phases": list(phases),
    }


def shell(id: str, command: str, *after: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "kind": "shell",
        "command": command,
        "after": list(after),
        **extra,
    }


SMALL = workflow(
    shell("a", "echo a"),
    {"id": "b", "kind": "noop", "after": ["a"]},
    {"id": "c", "kind": "python", "ref": "os:getcwd", "after": ["a"]},
    id="small",
)
SLEEPY = workflow(
    shell("nap", "sleep 30"), {"id": "after", "after": ["nap"]}, id="sleepy"
)


def wait_for_phase(
    client: Client, execution_id: str, phase_id: str, status: str
) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        events = client.events(execution_id)
        if any(e.get("phase_id") == phase_id and e["status"] == status for e in events):
            return
        time.sleep(0.05)
    raise AssertionError(f"{phase_id} never became {status}: {events}")


class FakeWidget:
    """Stands for a DagWidget that can follow a server run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def attach(self, execution_id: str, *, client: Any) -> None:
        self.calls.append((execution_id, client))


@contextmanager
def not_dagstudio_server() -> Iterator[str]:
    """A local HTTP server that answers every request with an HTML 404 page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>404: Not Found</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_client_submit_dict_runs_to_completed(dagstudio_client: Client) -> None:
    execution = dagstudio_client.submit(SMALL, max_parallel=2)
    final = dagstudio_client.wait(execution["id"], timeout=30, poll_s=0.05)

    assert execution["status"] == "pending"
    assert execution["workflow"]["id"] == "small"
    assert final["status"] == "completed"
    assert {p["id"]: p["status"] for p in final["phases"]} == {
        "a": "completed",
        "b": "completed",
        "c": "completed",
    }


def test_client_submit_workflow_object(dagstudio_client: Client) -> None:
    wf = Workflow("built", "Built in Python")
    wf.add("first", command="echo one")
    wf.add("second", after="first")

    execution = dagstudio_client.submit(wf)
    final = dagstudio_client.wait(execution["id"], timeout=30, poll_s=0.05)

    assert final["status"] == "completed"
    assert final["workflow"]["name"] == "Built in Python"


def test_client_submit_refuses_a_function_defined_in_this_process(
    dagstudio_client: Client,
) -> None:
    wf = Workflow("local")
    wf.add("inline", lambda: 1)

    with pytest.raises(InvalidWorkflowError, match=r"'inline'.*ref"):
        dagstudio_client.submit(wf)


def test_client_get_and_events_follow_the_run(dagstudio_client: Client) -> None:
    execution_id = dagstudio_client.submit(SMALL)["id"]
    final = dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)

    got = dagstudio_client.get(execution_id)
    events = dagstudio_client.events(execution_id)
    later = dagstudio_client.events(execution_id, since=3)

    assert got == final
    assert [e["seq"] for e in events] == list(range(1, got["last_seq"] + 1))
    assert events[0]["phase_id"] is None and events[0]["status"] == "running"
    assert events[-1]["phase_id"] is None and events[-1]["status"] == "completed"
    assert later == events[3:]


def test_client_wait_hands_every_event_to_on_event(dagstudio_client: Client) -> None:
    seen: list[dict[str, Any]] = []
    execution_id = dagstudio_client.submit(SMALL)["id"]

    final = dagstudio_client.wait(
        execution_id, timeout=30, poll_s=0.05, since=0, on_event=seen.append
    )

    assert [e["seq"] for e in seen] == list(range(1, final["last_seq"] + 1))


def test_client_list_pages_newest_first(dagstudio_client: Client) -> None:
    ids = [dagstudio_client.submit(SMALL)["id"] for _ in range(3)]
    for execution_id in ids:
        dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)

    page, cursor = dagstudio_client.list_page(limit=2)
    everything = dagstudio_client.list(limit=1000)
    walked = list(dagstudio_client.iter_executions(page_size=1))
    two = dagstudio_client.list(limit=2)
    completed = dagstudio_client.list(status="completed", limit=1000)

    assert len(page) == 2 and cursor is not None
    assert [e["id"] for e in everything[:3]] == ids[::-1]
    assert [e["id"] for e in walked] == [e["id"] for e in everything]
    assert two == everything[:2]
    assert set(ids) <= {e["id"] for e in completed}
    assert everything[0]["name"] == "Workflow small"
    assert everything[0]["progress"]["total"] == 3


def test_client_cancel_stops_a_long_shell_phase(dagstudio_client: Client) -> None:
    execution_id = dagstudio_client.submit(SLEEPY)["id"]
    wait_for_phase(dagstudio_client, execution_id, "nap", "running")

    with pytest.raises(WaitTimeoutError, match=execution_id):
        dagstudio_client.wait(execution_id, timeout=0.2, poll_s=0.05)
    with pytest.raises(ServerConflictError, match="cancel it first") as running:
        dagstudio_client.delete(execution_id)
    started = time.monotonic()
    cancelled = dagstudio_client.cancel(execution_id)
    final = dagstudio_client.wait(execution_id, timeout=10)

    assert time.monotonic() - started < 10
    assert running.value.status == 409 and isinstance(running.value, ConflictError)
    assert final["status"] == cancelled["status"] == "cancelled"
    assert {p["id"]: p["status"] for p in final["phases"]} == {
        "nap": "cancelled",
        "after": "cancelled",
    }


def test_client_cancel_of_a_finished_run_is_a_conflict(
    dagstudio_client: Client,
) -> None:
    execution_id = dagstudio_client.submit(SMALL)["id"]
    dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)

    with pytest.raises(ServerConflictError) as caught:
        dagstudio_client.cancel(execution_id)

    assert caught.value.error == "conflict"
    assert "completed" in caught.value.message


def test_client_retry_runs_the_failed_phase_again(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    marker = dagstudio_server.root_dir / f"marker-{secrets.token_hex(4)}"
    doc = workflow(
        shell("check", f"test -f {marker.name}"), {"id": "done", "after": ["check"]}
    )
    execution_id = dagstudio_client.submit(doc)["id"]
    failed = dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)
    marker.touch()

    retried = dagstudio_client.retry(execution_id)
    final = dagstudio_client.wait(
        execution_id, timeout=30, poll_s=0.05, since=failed["last_seq"]
    )

    assert failed["status"] == "failed" and "check" in failed["error"]
    assert retried["id"] == execution_id and retried["last_seq"] > failed["last_seq"]
    assert final["status"] == "completed"
    phases = {p["id"]: p for p in final["phases"]}
    assert phases["check"]["status"] == "completed" and phases["check"]["attempt"] == 2
    assert phases["done"]["status"] == "completed"


def test_client_delete_forgets_a_finished_execution(dagstudio_client: Client) -> None:
    execution_id = dagstudio_client.submit(SMALL)["id"]
    dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)

    dagstudio_client.delete(execution_id)

    with pytest.raises(ServerNotFoundError):
        dagstudio_client.get(execution_id)
    assert execution_id not in {e["id"] for e in dagstudio_client.list(limit=1000)}


def test_client_invalid_workflow_raises_with_the_servers_message(
    dagstudio_client: Client,
) -> None:
    doc = workflow(shell("a", "true", "ghost"))

    with pytest.raises(ServerInvalidWorkflowError) as caught:
        dagstudio_client.submit(doc)

    error = caught.value
    assert isinstance(error, InvalidWorkflowError) and isinstance(error, ServerError)
    assert (error.status, error.error) == (400, "invalid_workflow")
    assert "'ghost'" in error.message and "'a'" in error.message


def test_client_bad_option_is_a_server_error_400(dagstudio_client: Client) -> None:
    with pytest.raises(ServerError) as caught:
        dagstudio_client.submit(SMALL, max_parallel=0)

    assert caught.value.status == 400 and "max_parallel" in caught.value.message


@pytest.mark.parametrize("execution_id", ["0" * 32, "no-such-run"])
def test_client_unknown_id_raises_not_found(
    dagstudio_client: Client, execution_id: str
) -> None:
    with pytest.raises(ServerNotFoundError) as caught:
        dagstudio_client.get(execution_id)

    assert isinstance(caught.value, NotFoundError)
    assert (caught.value.status, caught.value.error) == (404, "not_found")
    assert execution_id in str(caught.value)


@pytest.mark.parametrize(
    ("given", "url", "token"),
    [
        ("127.0.0.1:8888", "http://127.0.0.1:8888/", None),
        ("http://127.0.0.1:8888/user/x", "http://127.0.0.1:8888/user/x/", None),
        ("https://[::1]:9/lab/?token=abc#frag", "https://[::1]:9/lab/", "abc"),
    ],
)
def test_client_url_is_normalized(
    given: str, url: str, token: str | None, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    client = Client(given)

    assert client.url == url
    assert client._token == token
    assert repr(client) == f"<Client {url} ({'token' if token else 'no token'})>"


def test_client_url_with_a_password_is_refused() -> None:
    with pytest.raises(DagStudioError, match="user name or password") as caught:
        Client("http://me:hunter2@127.0.0.1:8888/")

    assert "hunter2" not in str(caught.value)


def test_server_error_survives_pickling() -> None:
    import pickle

    error = ServerNotFoundError(404, "not_found", "execution 'x' not found", path="p")

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is ServerNotFoundError
    assert (copy.status, copy.error, copy.message, copy.path) == (
        404,
        "not_found",
        "execution 'x' not found",
        "p",
    )


def test_client_malformed_id_is_not_found_without_a_request() -> None:
    client = Client("http://127.0.0.1:9/", "unused")

    with pytest.raises(NotFoundError, match=re.escape("'../token'")):
        client.get("../token")


def test_client_bad_token_raises_forbidden(dagstudio_server: JupyterServer) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    client = Client(dagstudio_server.url, wrong)

    with pytest.raises(ServerError) as caught:
        client.list()

    assert caught.value.status in (401, 403)
    assert "token" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)


def test_client_never_shows_its_token(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    token = dagstudio_server.token
    run = ServerRun(dagstudio_client, dagstudio_client.submit(SMALL))
    with pytest.raises(ServerNotFoundError) as caught:
        dagstudio_client.get("f" * 32)

    shown = [
        repr(dagstudio_client),
        str(dagstudio_client),
        repr(run),
        str(caught.value),
    ]
    shown += [repr(caught.value), str(caught.value.args)]

    assert all(token not in text for text in shown)
    assert dagstudio_server.url in repr(dagstudio_client)
    run.wait(timeout=30)


def test_client_token_in_url_moves_to_the_header(
    dagstudio_server: JupyterServer,
) -> None:
    client = Client(f"{dagstudio_server.url}?token={dagstudio_server.token}")

    assert client.url == dagstudio_server.url
    assert dagstudio_server.token not in repr(client)
    assert isinstance(client.list(limit=1), list)


def test_client_live_token_is_a_jwt(dagstudio_client: Client) -> None:
    token = dagstudio_client.live_token()

    assert token.count(".") == 2


def test_client_two_clients_with_one_token_see_the_same_executions(
    dagstudio_server: JupyterServer,
) -> None:
    # A script and a notebook share the server's one token: they are one user.
    first = Client(dagstudio_server.url, dagstudio_server.token)
    second = Client(dagstudio_server.url, dagstudio_server.token)
    execution_id = first.submit(SMALL)["id"]

    seen = second.get(execution_id)

    assert seen["id"] == execution_id
    first.wait(execution_id, timeout=30)


def test_client_without_extension_says_how_to_install_it() -> None:
    with not_dagstudio_server() as url:
        client = Client(url, "anything")
        with pytest.raises(NoExtensionError) as caught:
            client.list()

    assert "has no DAG Studio extension" in str(caught.value)
    assert "pip install dagstudio-jupyter" in str(caught.value)
    assert url in str(caught.value)


def test_client_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/lab/"
    client = Client(url, "anything", timeout=5)

    with pytest.raises(ServerUnreachableError, match="cannot reach") as caught:
        client.list()

    assert url in str(caught.value) and isinstance(caught.value, DagStudioError)


def test_workflow_submit_returns_a_server_run_and_attaches_the_widget(
    dagstudio_client: Client,
) -> None:
    widget = FakeWidget()
    wf = Workflow.from_dict(SMALL)

    run = wf.submit(dagstudio_client, widget=widget, max_parallel=1)
    run.wait(timeout=30)

    assert widget.calls == [(run.id, dagstudio_client)]
    assert run.client is dagstudio_client
    assert run.execution["status"] == "completed" and run.done
    assert run.status == "completed"
    assert run.phases["c"]["status"] == "completed"
    assert run.events()[-1]["status"] == "completed"
    assert repr(run).startswith(f"<ServerRun 'small' {run.id[:8]} completed")


def test_server_run_retry_then_wait_sees_the_new_end(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    marker = dagstudio_server.root_dir / f"marker-{secrets.token_hex(4)}"
    wf = Workflow("flaky")
    wf.add("check", command=["test", "-f", marker.name])
    run = wf.submit(dagstudio_client).wait(timeout=30)
    marker.touch()

    run.retry().wait(timeout=30)

    assert run.execution["status"] == "completed"
    assert run.phases["check"]["attempt"] == 2
    assert run.refresh()["last_seq"] == run.execution["last_seq"]


def test_server_run_cancel(dagstudio_client: Client) -> None:
    run = Workflow.from_dict(SLEEPY).submit(dagstudio_client)
    wait_for_phase(dagstudio_client, run.id, "nap", "running")

    run.cancel()

    assert run.execution["status"] == "cancelled"
    assert run.wait(timeout=5).error


def test_from_environment_reads_the_url_and_token_variables(
    dagstudio_server: JupyterServer, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    dagstudio_clean_env.setenv("DAGSTUDIO_SERVER_URL", dagstudio_server.url.rstrip("/"))
    dagstudio_clean_env.setenv("DAGSTUDIO_TOKEN", dagstudio_server.token)

    client = Client.from_environment()

    assert client.url == dagstudio_server.url
    assert isinstance(client.list(limit=1), list)


def test_from_environment_falls_back_to_jupyter_token(
    dagstudio_server: JupyterServer, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    dagstudio_clean_env.setenv("DAGSTUDIO_SERVER_URL", dagstudio_server.url)
    dagstudio_clean_env.setenv("JUPYTER_TOKEN", dagstudio_server.token)

    assert isinstance(Client().list(limit=1), list)


def test_from_environment_finds_the_only_running_server(
    dagstudio_server: JupyterServer, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    dagstudio_clean_env.setenv("JUPYTER_RUNTIME_DIR", str(dagstudio_server.runtime_dir))

    client = Client()

    assert client.url == dagstudio_server.url
    assert isinstance(client.list(limit=1), list)


def test_client_with_url_only_takes_the_token_of_that_running_server(
    dagstudio_server: JupyterServer, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    dagstudio_clean_env.setenv("JUPYTER_RUNTIME_DIR", str(dagstudio_server.runtime_dir))

    client = Client(dagstudio_server.url.replace("127.0.0.1", "localhost"))

    assert isinstance(client.list(limit=1), list)


def test_from_environment_without_any_server_says_how_to_connect(
    dagstudio_clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(DagStudioError, match="DAGSTUDIO_SERVER_URL") as caught:
        Client.from_environment()

    assert "no running Jupyter server" in str(caught.value)


@contextmanager
def decoy_server_file(runtime_dir: Path, pid: int, url: str) -> Iterator[None]:
    """An extra server info file, as a second running server would write."""
    path = runtime_dir / f"jpserver-{pid}.json"
    info = {"url": url, "token": "decoy-token", "pid": pid, "base_url": "/decoy/"}
    path.write_text(json.dumps(info))
    try:
        yield
    finally:
        path.unlink()


def test_from_environment_with_several_servers_lists_them(
    dagstudio_server: JupyterServer, dagstudio_clean_env: pytest.MonkeyPatch
) -> None:
    dagstudio_clean_env.setenv("JUPYTER_RUNTIME_DIR", str(dagstudio_server.runtime_dir))
    decoy = "http://127.0.0.1:9/decoy/"

    with (
        decoy_server_file(dagstudio_server.runtime_dir, os.getpid(), decoy),
        pytest.raises(DagStudioError, match="several") as caught,
    ):
        Client()

    assert decoy in str(caught.value) and dagstudio_server.url in str(caught.value)
    assert "decoy-token" not in str(caught.value)


def test_from_environment_prefers_the_server_that_started_this_process(
    dagstudio_server: JupyterServer, tmp_path: Path
) -> None:
    decoy = "http://127.0.0.1:9/decoy/"
    env = dagstudio_server.client_env()
    del env["DAGSTUDIO_SERVER_URL"], env["DAGSTUDIO_TOKEN"]
    code = (
        "from dagstudio_jupyter.client import discover_server\n"
        "print(discover_server()[0])"
    )

    with decoy_server_file(dagstudio_server.runtime_dir, os.getpid(), decoy):
        # This test process is the child's parent, and the decoy's pid.
        as_parent = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True
        )
        env["JPY_PARENT_PID"] = str(dagstudio_server.process.pid)
        as_kernel = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True
        )

    assert as_parent.stdout.strip() == decoy, as_parent.stderr
    assert as_kernel.stdout.strip() == dagstudio_server.url, as_kernel.stderr


def test_client_and_workflow_submit_inside_a_kernel_of_the_server(
    dagstudio_server: JupyterServer,
) -> None:
    from jupyter_client import BlockingKernelClient

    admin = {"Authorization": f"token {dagstudio_server.token}"}
    request = urllib.request.Request(
        dagstudio_server.url + "api/kernels", data=b"{}", headers=admin, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        kernel_id = json.load(response)["id"]
    code = (
        "from dagstudio_jupyter.workflow import Workflow\n"
        "wf = Workflow('in-kernel')\n"
        "wf.add('hello', command='echo hello')\n"
        "run = wf.submit().wait(timeout=30)\n"
        "print(run.client.url, run.execution['status'])\n"
    )
    output: list[str] = []

    def keep(message: dict[str, Any]) -> None:
        if message["header"]["msg_type"] in ("stream", "error"):
            output.append(json.dumps(message["content"]))

    kernel = BlockingKernelClient(
        connection_file=str(dagstudio_server.runtime_dir / f"kernel-{kernel_id}.json")
    )
    kernel.load_connection_file()
    kernel.start_channels()
    try:
        kernel.wait_for_ready(timeout=30)
        # A decoy server whose pid is the kernel's grandparent (this process):
        # the kernel must still pick the server that started it.
        with decoy_server_file(
            dagstudio_server.runtime_dir, os.getpid(), "http://127.0.0.1:9/decoy/"
        ):
            kernel.execute_interactive(code, timeout=60, output_hook=keep)
    finally:
        kernel.stop_channels()
        delete = urllib.request.Request(
            f"{dagstudio_server.url}api/kernels/{kernel_id}",
            headers=admin,
            method="DELETE",
        )
        with urllib.request.urlopen(delete, timeout=20):
            pass

    assert f"{dagstudio_server.url} completed" in "".join(output), output


def test_discover_server_skips_unix_socket_servers(
    dagstudio_clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runtime = Path(os.environ["JUPYTER_RUNTIME_DIR"])
    info = {
        "url": "http+unix://%2Ftmp%2Fsock/",
        "sock": "/tmp/sock",
        "pid": os.getpid(),
    }
    (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))

    with pytest.raises(DagStudioError, match="no running Jupyter server"):
        discover_server()


def logging_chain(root: Path, flag: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Shell phases a -> b -> c that append their id to a log in the server root.

    While `flag` exists, b fails without logging.
    """
    log = root / f"ran-{secrets.token_hex(4)}.log"
    guard = f"test ! -e {flag.name} && " if flag is not None else ""
    doc = workflow(
        shell("a", f"echo a >> {log.name}"),
        shell("b", f"{guard}echo b >> {log.name}", "a"),
        shell("c", f"echo c >> {log.name}", "b"),
        id="chain",
    )
    return doc, log


def ran(log: Path) -> list[str]:
    """The phases that ran, in order, from their log lines."""
    return log.read_text().split() if log.exists() else []


def statuses(execution: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {p["id"]: (p["status"], p["from_execution"]) for p in execution["phases"]}


def test_client_rerun_runs_only_that_phase(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    doc, log = logging_chain(dagstudio_server.root_dir)
    source = dagstudio_client.submit(doc)["id"]
    dagstudio_client.wait(source, timeout=30, poll_s=0.05)

    derived = dagstudio_client.rerun(source, "b")
    final = dagstudio_client.wait(derived["id"], timeout=30, poll_s=0.05)

    assert derived["id"] != source
    assert derived["derived_from"] == {
        "execution_id": source,
        "mode": "phase",
        "phase_id": "b",
    }
    assert ran(log) == ["a", "b", "c", "b"]
    assert final["status"] == "completed"
    assert statuses(final) == {
        "a": ("completed", source),
        "b": ("completed", None),
        "c": ("completed", source),
    }


def test_client_rerun_downstream_runs_the_phase_and_all_below(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    doc, log = logging_chain(dagstudio_server.root_dir)
    source = dagstudio_client.submit(doc)["id"]
    dagstudio_client.wait(source, timeout=30, poll_s=0.05)

    derived = dagstudio_client.rerun(source, "b", downstream=True, max_parallel=1)
    final = dagstudio_client.wait(derived["id"], timeout=30, poll_s=0.05)

    assert derived["derived_from"]["mode"] == "downstream"
    assert ran(log) == ["a", "b", "c", "b", "c"]
    assert statuses(final) == {
        "a": ("completed", source),
        "b": ("completed", None),
        "c": ("completed", None),
    }


def test_client_resume_runs_what_did_not_complete(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    flag = dagstudio_server.root_dir / f"flag-{secrets.token_hex(4)}"
    flag.touch()
    doc, log = logging_chain(dagstudio_server.root_dir, flag)
    source = dagstudio_client.submit(doc)["id"]
    failed = dagstudio_client.wait(source, timeout=30, poll_s=0.05)
    flag.unlink()

    derived = dagstudio_client.resume(source)
    final = dagstudio_client.wait(derived["id"], timeout=30, poll_s=0.05)

    assert failed["status"] == "failed"
    assert derived["derived_from"] == {
        "execution_id": source,
        "mode": "resume",
        "phase_id": None,
    }
    assert ran(log) == ["a", "b", "c"]
    assert final["status"] == "completed"
    assert statuses(final)["a"] == ("completed", source)
    assert dagstudio_client.get(source)["status"] == "failed"


def test_client_rerun_of_an_unknown_phase_is_a_400_naming_it(
    dagstudio_client: Client,
) -> None:
    source = dagstudio_client.submit(SMALL)["id"]
    dagstudio_client.wait(source, timeout=30, poll_s=0.05)

    with pytest.raises(ServerError) as caught:
        dagstudio_client.rerun(source, "ghost", downstream=True)

    assert caught.value.status == 400
    assert "'ghost'" in caught.value.message


def test_client_resume_of_a_completed_execution_is_a_conflict(
    dagstudio_client: Client,
) -> None:
    source = dagstudio_client.submit(SMALL)["id"]
    dagstudio_client.wait(source, timeout=30, poll_s=0.05)

    with pytest.raises(ServerConflictError) as caught:
        dagstudio_client.resume(source)

    assert caught.value.status == 409
    assert "nothing to resume" in caught.value.message
    assert source in caught.value.message


def test_client_rerun_of_a_running_execution_is_a_conflict(
    dagstudio_client: Client,
) -> None:
    source = dagstudio_client.submit(SLEEPY)["id"]
    wait_for_phase(dagstudio_client, source, "nap", "running")

    try:
        with pytest.raises(ServerConflictError, match="is running"):
            dagstudio_client.rerun(source, "after")
    finally:
        dagstudio_client.cancel(source)
    with pytest.raises(ServerNotFoundError):
        dagstudio_client.resume("f" * 32)


def test_client_submit_cache_skips_unchanged_phases_and_force_runs_them(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    doc, log = logging_chain(dagstudio_server.root_dir)

    def run(**options: Any) -> dict[str, Any]:
        execution_id = dagstudio_client.submit(doc, **options)["id"]
        return dagstudio_client.wait(execution_id, timeout=30, poll_s=0.05)

    first = run(cache=True)
    cached = run(cache=True)
    after_cached = ran(log)
    forced_b = run(cache=True, force={"b"})
    after_b = ran(log)
    run(cache=True, force=True)
    plain = run()

    assert after_cached == ["a", "b", "c"]
    assert statuses(cached) == dict.fromkeys("abc", ("cached", first["id"]))
    assert cached["status"] == "completed"
    assert after_b == ["a", "b", "c", "b"]
    assert statuses(forced_b)["b"] == ("completed", None)
    assert statuses(forced_b)["c"][0] == "cached"
    assert ran(log) == ["a", "b", "c", "b", "a", "b", "c", "a", "b", "c"]
    assert {p["status"] for p in plain["phases"]} == {"completed"}


def test_client_rerun_cache_and_force_reach_the_server(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    doc, log = logging_chain(dagstudio_server.root_dir)
    source = dagstudio_client.submit(doc, cache=True)["id"]
    dagstudio_client.wait(source, timeout=30, poll_s=0.05)

    chosen = dagstudio_client.rerun(source, "b", downstream=True, cache=True)
    chosen = dagstudio_client.wait(chosen["id"], timeout=30, poll_s=0.05)
    after_chosen = ran(log)
    with pytest.raises(ServerError) as refused:
        dagstudio_client.rerun(source, "b", cache=True, force=["ghost"])

    # The phases asked for run even with the cache: b and everything below.
    assert after_chosen == ["a", "b", "c", "b", "c"]
    assert statuses(chosen) == {
        "a": ("completed", source),
        "b": ("completed", None),
        "c": ("completed", None),
    }
    # force travels to the server, which names what is wrong with it.
    assert "unknown phase(s) ['ghost']" in str(refused.value)
    assert ran(log) == after_chosen

@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"force": "b"}, "force must be True or a list"),
        ({"force": [1]}, "force must be True or a list"),
        ({"cache": "yes"}, "cache must be True or False"),
    ],
)
def test_client_bad_cache_options_are_refused_before_any_request(
    options: dict[str, Any], problem: str
) -> None:
    client = Client(f"http://127.0.0.1:{free_port()}/", "unused")

    with pytest.raises(TypeError, match=problem):
        client.submit(SMALL, **options)
    with pytest.raises(TypeError, match=problem):
        client.rerun("0" * 32, "a", **options)


def test_server_run_rerun_and_resume_return_new_runs_the_widget_follows(
    dagstudio_client: Client, dagstudio_server: JupyterServer
) -> None:
    flag = dagstudio_server.root_dir / f"flag-{secrets.token_hex(4)}"
    flag.touch()
    doc, log = logging_chain(dagstudio_server.root_dir, flag)
    widget = FakeWidget()
    run = Workflow.from_dict(doc).submit(dagstudio_client, widget=widget)
    run.wait(timeout=30)
    flag.unlink()

    resumed = run.resume()
    again = resumed.rerun("b", downstream=True, wait=False, max_parallel=1)
    again.wait(timeout=30)

    assert run.execution["status"] == "failed"
    assert isinstance(resumed, ServerRun) and resumed.id != run.id
    assert resumed.done and resumed.execution["status"] == "completed"
    assert resumed.source is run and again.source is resumed
    assert resumed.derived_from == {
        "execution_id": run.id,
        "mode": "resume",
        "phase_id": None,
    }
    assert again.derived_from is not None
    assert again.derived_from["execution_id"] == resumed.id
    assert again.execution["status"] == "completed"
    assert ran(log) == ["a", "b", "c", "b", "c"]
    assert widget.calls == [
        (run.id, dagstudio_client),
        (resumed.id, dagstudio_client),
        (again.id, dagstudio_client),
    ]
    assert again.widget is widget


class FollowingWidget(FakeWidget):
    """A fake widget that, like DagWidget, says which execution it follows."""

    def __init__(self) -> None:
        super().__init__()
        self.server: dict[str, Any] = {}

    def attach(self, execution_id: str, *, client: Any) -> None:
        super().attach(execution_id, client=client)
        self.server = {"execution_id": execution_id}


def test_server_run_rerun_leaves_a_widget_that_moved_on_alone(
    dagstudio_client: Client,
) -> None:
    widget = FollowingWidget()
    run = Workflow.from_dict(SMALL).submit(dagstudio_client, widget=widget)
    run.wait(timeout=30)
    other = dagstudio_client.submit(SMALL)["id"]
    widget.attach(other, client=dagstudio_client)
    chosen = FakeWidget()

    moved_on = run.rerun("b")
    given = run.rerun("b", widget=chosen)

    assert moved_on.widget is None
    assert widget.calls == [(run.id, dagstudio_client), (other, dagstudio_client)]
    assert chosen.calls == [(given.id, dagstudio_client)]
    assert given.execution["status"] == "completed"
    dagstudio_client.wait(other, timeout=30)
