"""Runs last (by name): no secret the suite used appears in a server log it wrote.

`tests/_server.py` records every log file it writes and every secret it makes
or sees; others add theirs with `record_secret` and `record_log`. The first
test here also offers a live-channel token every way a client could (in the
URL, in the subprotocol header, in a message) and a Jupyter token in a URL,
so the scan has the risky cases in its logs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ._server import (
    API,
    DagServer,
    forget_recorded,
    process_logs_to,
    record_secret,
    recorded,
    running_server,
)

SUBPROTOCOL = "dagstudio.v1"


def _connect(url: str, **options: Any) -> Any:
    from websockets.sync.client import connect

    # proxy=None: straight to 127.0.0.1, whatever proxy the environment names.
    return connect(url, proxy=None, open_timeout=10, close_timeout=5, **options)


def _outcome(url: str, first: dict[str, Any] | None = None, **options: Any) -> str:
    """How the live channel answers: `ready`, `close <code>` or `http <status>`."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    try:
        with _connect(url, **options) as socket:
            if first is not None:
                socket.send(json.dumps(first))
            frame = json.loads(socket.recv(timeout=10))
            return str(frame.get("type"))
    except ConnectionClosed as exc:
        return f"close {exc.rcvd.code if exc.rcvd else 'none'}"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"


def _forged(token: str) -> str:
    """The token with its signature changed: well formed, and refused."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _get_with_token_in_url(server: DagServer) -> int:
    request = urllib.request.Request(
        f"{server.url}{API}/executions?token={server.token}"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Where secrets occur in `text`, described without the secrets themselves."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for value, label in secrets.items():
            # A JWT's signature alone is as telling as the whole token.
            parts = [
                value,
                *([value.rsplit(".", 1)[1]] if value.count(".") == 2 else []),
            ]
            if any(part in line for part in parts):
                found.append(f"line {number}: {label} ({len(value)} chars)")
    return found


def test_leaks_finds_a_secret_and_a_jwt_signature_without_repeating_them() -> None:
    secrets = {"s3cr3t-value-0123456789": "JWT secret", "aaa.bbb.sig-part": "token"}
    text = "start\nGET /x?t=s3cr3t-value-0123456789\nsigned sig-part here\nend"

    found = _leaks(text, secrets)

    assert found == ["line 2: JWT secret (23 chars)", "line 3: token (16 chars)"]


def test_live_channel_keeps_tokens_out_of_the_server_log(tmp_path: Path) -> None:
    with (
        process_logs_to(tmp_path / "pytest-process.log"),
        running_server(
            tmp_path / "home",
            root_dir=tmp_path / "root",
            store_path=tmp_path / "store.duckdb",
            debug=True,  # request lines, 101 upgrades included, are DEBUG
        ) as server,
    ):
        # A plain GET of a WebSocket route is a 400; 404 means no route.
        if server.api("GET", f"{API}/live")[0] == 404:
            pytest.skip("the live channel (dagstudio/api/live) is not served yet")
        status, body = server.api("POST", f"{API}/token")
        assert status == 200, body
        token = body["token"]
        forged = _forged(token)
        record_secret(forged, "forged live-channel token")

        outcomes = {
            "query token": _outcome(f"{server.live_url}?token={token}"),
            "query jwt": _outcome(f"{server.live_url}?jwt={token}"),
            "query unnamed": _outcome(f"{server.live_url}?x={token}"),
            "header": _outcome(
                server.live_url, subprotocols=[SUBPROTOCOL, f"bearer.{token}"]
            ),
            "message": _outcome(server.live_url, {"type": "auth", "token": token}),
            "forged message": _outcome(
                server.live_url, {"type": "auth", "token": forged}
            ),
            "forged header": _outcome(
                server.live_url, subprotocols=[SUBPROTOCOL, f"bearer.{forged}"]
            ),
        }
        jupyter_token_in_url = _get_with_token_in_url(server)
        server.stop()

    assert outcomes == {
        "query token": "close 4001",
        "query jwt": "close 4001",
        "query unnamed": "close 4001",
        "header": "ready",
        "message": "ready",
        "forged message": "close 4001",
        "forged header": "close 4001",
    }
    assert jupyter_token_in_url == 200
    log = server.log_text()
    assert "101 GET /dagstudio/api/live" in log  # the scan sees the request lines
    assert "live connection accepted for user" in log
    secrets = {
        token: "live-channel token",
        forged: "forged live-channel token",
        server.token: "Jupyter token",
        server.jwt_secret: "JWT secret",
    }
    assert _leaks(log, secrets) == []


def test_zz_no_recorded_secret_in_any_recorded_log() -> None:
    secrets, logs = recorded()
    present = sorted(path for path in logs if path.exists())

    leaks = {
        str(path): found
        for path in present
        if (
            found := _leaks(path.read_text(encoding="utf-8", errors="replace"), secrets)
        )
    }
    forget_recorded()  # the secrets are of servers that have stopped

    assert secrets and present, "nothing was recorded: no server ran in this session"
    assert leaks == {}
