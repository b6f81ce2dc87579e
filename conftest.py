"""Root fixtures: a real Jupyter server with the DAG Studio extension enabled."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TEST_JWT_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="session", autouse=True)
def dagstudio_in_process_logs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Keep every in-process server's log for the suite's final secret scan."""
    from tests._server import process_logs_to, record_secret

    record_secret(TEST_JWT_SECRET, "test JWT secret")
    path = tmp_path_factory.mktemp("logs") / "in-process-servers.log"
    with process_logs_to(path):
        yield path


@pytest.fixture
def dagstudio_store_path(tmp_path: Any) -> Any:
    """The DuckDB file the test server writes."""
    return tmp_path / "dagstudio-store" / "executions.duckdb"


@pytest.fixture(autouse=True)
def dagstudio_jwt_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test JWT secret, given as the environment variable.

    Not as `DagStudioApp.jwt_secret`: Jupyter logs changed configuration at
    debug level, values included, and the suite's logs must hold no secret.
    """
    monkeypatch.setenv("JWT_SECRET_KEY", TEST_JWT_SECRET)
    return TEST_JWT_SECRET


@pytest.fixture
def jp_server_config(dagstudio_store_path: Any) -> dict[str, Any]:
    """Enable the extension with a temporary store."""
    return {
        "ServerApp": {"jpserver_extensions": {"dagstudio_jupyter": True}},
        "DagStudioApp": {
            "store_path": str(dagstudio_store_path),
            "ping_interval_s": 0.5,
        },
    }


@pytest.fixture
def dagstudio_api(jp_fetch: Callable[..., Any]) -> Callable[..., Any]:
    """Call `dagstudio/api/<path>`; returns (status, JSON body, response)."""
    import json

    from tornado.httpclient import HTTPClientError

    from tests._server import record_secret

    # pytest-jupyter's own Jupyter token is not recorded: that server is set up
    # to print its URL, token included, at start-up, as Jupyter does for a
    # configured token. The real servers of tests/_server.py take theirs from
    # the environment, which Jupyter never prints, and record it.

    async def call(method: str, path: str, body: Any = None, **params: Any) -> Any:
        options: dict[str, Any] = {"method": method, "params": params or None}
        if body is not None:
            options["body"] = (
                body if isinstance(body, (str, bytes)) else json.dumps(body)
            )
        elif method in ("POST", "PUT", "PATCH"):
            options["body"] = b""
        try:
            response = await jp_fetch("dagstudio", "api", *path.split("/"), **options)
        except HTTPClientError as exc:
            response = exc.response
            assert response is not None, exc
        text = response.body.decode() if response.body else ""
        body = json.loads(text) if text else None
        if path == "token" and response.code == 200:
            record_secret(body["token"], "live token")
        return response.code, body, response

    return call
