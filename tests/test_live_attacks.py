"""Attacks on the live channel, against a real `jupyter server` process.

Each attack is refused with its documented close code (ws.py, DESIGN.md),
leaves exactly one `live_refused` line on the `dagstudio.audit` logger and
one count in `dagstudio_live_auth_failures_total{reason}` of `/metrics`, and
no token in the server log. Good connections interleaved with the attacks
are all accepted, and only they: the server's own audit lines and
`dagstudio_live_connections` gauge say so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from ._server import API, DagServer, record_secret, running_server

SUBPROTOCOL = "dagstudio.v1"
WAIT_S = 10.0
AUTH_TIMEOUT_S = 1.0
AUDIT_MARK = " dagstudio.audit] "
NOOP = {
    "format": "dagstudio.workflow/1",
    "id": "w",
    "phases": [{"id": "a", "kind": "noop"}],
}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagServer]:
    """One server for the attack matrix; DEBUG logs, so more could leak."""
    home = tmp_path_factory.mktemp("live-attacks")
    with running_server(
        home,
        root_dir=home / "root",
        store_path=home / "store.duckdb",
        config={"DagStudioApp": {"auth_timeout_s": AUTH_TIMEOUT_S}},
        debug=True,
    ) as server:
        yield server


# -- tokens ---------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    """Claims a server accepts, with `changes` (None drops a claim)."""
    now = int(time.time())
    base = {"sub": "alice", "iss": "dagstudio", "aud": "dagstudio-live"}
    base.update(iat=now, nbf=now, exp=now + 600)
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(key: Any, algorithm: str = "HS256", **changes: Any) -> str:
    """A token signed with `key`; recorded for the suite's final log scan."""
    token = jwt.encode(claims(**changes), key, algorithm=algorithm)
    record_secret(token, "attack token")
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(**changes: Any) -> str:
    """`alg: none` and an empty signature (not recorded: nothing to hide)."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims(**changes)).encode())}."


def hmac_signed(key: bytes, **changes: Any) -> str:
    """An HS256 token keyed with any bytes, which pyjwt refuses to do for a PEM."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = f"{header}.{b64(json.dumps(claims(**changes)).encode())}"
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()
    token = f"{body}.{b64(signature)}"
    record_secret(token, "key-confusion token")
    return token


def oversized(size: int) -> str:
    """A token-shaped string of about `size` characters."""
    token = f"eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(size)}.{b64(os.urandom(32))}"
    record_secret(token, "oversized token")
    return token


def minted(server: DagServer) -> str:
    """A genuine token of the server's user, from `POST dagstudio/api/token`."""
    status, body = server.api("POST", f"{API}/token")
    assert status == 200, body
    return str(body["token"])


def token_parts(token: str) -> list[str]:
    """What of a token must never be logged: itself, its payload and signature."""
    pieces = token.split(".")
    parts = [token] + (pieces[1:] if len(pieces) == 3 else [])
    return [part for part in parts if len(part) >= 16]


# -- connecting -----------------------------------------------------------------


def auth(token: Any) -> str:
    return json.dumps({"type": "auth", "token": token})


def live_connect(
    server: DagServer,
    header_token: str | None = None,
    *,
    query: str = "",
    origin: str | None = None,
) -> ClientConnection:
    protocols = [SUBPROTOCOL]
    if header_token is not None:
        protocols.append(f"bearer.{header_token}")
    return connect(
        server.live_url + query,
        subprotocols=protocols,
        origin=origin,
        proxy=None,  # straight to 127.0.0.1, whatever the environment says
        open_timeout=WAIT_S,
        close_timeout=WAIT_S,
    )


def first_frame(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=WAIT_S))
    assert isinstance(frame, dict), frame
    return frame


def outcome(
    server: DagServer,
    header_token: str | None = None,
    *,
    first: str | bytes | None = None,
    query: str = "",
    origin: str | None = None,
) -> str:
    """How the server answers: `ready <user>`, `close <code> <reason>`,
    `http <status>` or `dropped` (no HTTP answer at all)."""
    try:
        with live_connect(server, header_token, query=query, origin=origin) as ws:
            if first is not None:
                ws.send(first)
            frame = first_frame(ws)
            return f"{frame['type']} {frame.get('user')}"
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return "closed without a close frame"
        return f"close {exc.rcvd.code} {exc.rcvd.reason}"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    except InvalidMessage:
        return "dropped"


# -- what the server says --------------------------------------------------------


def log_size(server: DagServer) -> int:
    return len(server.log_text())


def log_since(server: DagServer, mark: int) -> str:
    return server.log_text()[mark:]


def audit_lines(server: DagServer, mark: int) -> list[dict[str, Any]]:
    """The `dagstudio.audit` lines logged since `mark`, each parsed as JSON."""
    return [
        json.loads(line.split(AUDIT_MARK, 1)[1])
        for line in log_since(server, mark).splitlines()
        if AUDIT_MARK in line
    ]


@dataclass
class LiveMetrics:
    connections: float
    failures: dict[str, float] = field(default_factory=dict)

    def failures_since(self, before: LiveMetrics) -> dict[str, float]:
        return {
            reason: count - before.failures.get(reason, 0)
            for reason, count in self.failures.items()
            if count != before.failures.get(reason, 0)
        }


def live_metrics(server: DagServer) -> LiveMetrics:
    """The live-channel metrics, read from the server's own `/metrics`."""
    status, text = server.api("GET", "metrics")
    assert status == 200, text
    metrics = LiveMetrics(connections=-1)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dagstudio_live_connections":
                metrics.connections = sample.value
            elif sample.name == "dagstudio_live_auth_failures_total":
                metrics.failures[sample.labels["reason"]] = sample.value
    assert metrics.connections >= 0, "dagstudio_live_connections is not served"
    return metrics


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll the server (another process) until `check()` holds."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def assert_audit_shape(line: dict[str, Any]) -> None:
    """Every audit line: its event, a UTC time, the client address."""
    assert line["event"] in {"live_accepted", "live_refused", "live_forbidden"}
    assert line["time"].endswith("Z")
    datetime.fromisoformat(line["time"])
    assert line["remote_ip"] == "127.0.0.1"


def assert_not_logged(text: str, tokens: list[str]) -> None:
    for token in tokens:
        for part in token_parts(token):
            assert part not in text, f"a token part ({len(part)} chars) was logged"


# -- the attacks -----------------------------------------------------------------


@dataclass
class Attack:
    """One way in that must be refused, and how the refusal must look."""

    run: Callable[[DagServer], str]
    expected: str
    # The `reason` label of the failure metric; None: refused before the
    # handler runs (no audit line, no count).
    reason: str | None
    tokens: list[str] = field(default_factory=list)

    @property
    def code(self) -> int | None:
        """The close code or HTTP status the client sees, if any."""
        kind, _, rest = self.expected.partition(" ")
        return int(rest.split()[0]) if kind in {"close", "http"} else None


def attack_with(
    token: str | None,
    expected: str,
    reason: str | None,
    *,
    via: str = "message",
    first: str | bytes | None = None,
    query: str = "",
    origin: str | None = None,
) -> Attack:
    """An attack sending `token` in an auth message or the subprotocol header."""
    header = token if via == "header" else None
    if via == "message" and first is None:
        first = auth(token)

    def run(server: DagServer) -> str:
        return outcome(server, header, first=first, query=query, origin=origin)

    return Attack(run, expected, reason, [token] if token else [])


def make_attack(name: str, server: DagServer) -> Attack:
    """The attack `name`, with tokens made for `server` (its secret, its user)."""
    secret = server.jwt_secret
    now = int(time.time())
    if name == "no_token":
        return attack_with(
            None, "close 4001 token missing", "missing", first='{"type": "auth"}'
        )
    if name == "empty_header_token":
        return attack_with("", "close 4001 token missing", "missing", via="header")
    if name == "expired":
        token = signed(secret, iat=now - 900, nbf=now - 900, exp=now - 60)
        return attack_with(token, "close 4001 token expired", "expired")
    if name == "not_yet_valid":
        token = signed(secret, nbf=now + 600)
        return attack_with(token, "close 4001 token not yet valid", "not_yet_valid")
    if name == "wrong_key":
        token = signed(secrets.token_urlsafe(48))
        return attack_with(token, "close 4001 token signature invalid", "bad_signature")
    if name == "alg_none":
        text = "close 4001 token algorithm not accepted"
        return attack_with(unsigned(), text, "algorithm", via="header")
    if name == "alg_hs512_with_the_secret":
        token = signed(secret, "HS512")
        return attack_with(
            token, "close 4001 token algorithm not accepted", "algorithm"
        )
    if name == "wrong_audience":
        token = signed(secret, aud="jupyterhub")
        return attack_with(token, "close 4001 token audience wrong", "wrong_audience")
    if name == "wrong_issuer":
        token = signed(secret, iss="someone-else")
        return attack_with(token, "close 4001 token issuer wrong", "wrong_issuer")
    if name == "token_in_url":
        # The same good token in the header: only the URL is wrong.
        token = minted(server)
        return attack_with(
            token,
            "close 4001 token in URL refused; send it in a message",
            "url_token",
            via="header",
            query=f"?token={token}",
        )
    if name == "oversized_in_message":
        token = oversized(64 * 1024)
        return attack_with(token, "close 1009 message too big", "frame_too_big")
    if name == "oversized_in_header":
        token = oversized(16 * 1024)
        text = "close 4001 token too large"
        return attack_with(token, text, "too_large", via="header")
    if name == "oversized_http_header":
        # Over tornado's 64 KiB header limit: dropped before any handler runs.
        return attack_with(oversized(64 * 1024), "dropped", None, via="header")
    not_auth = "close 4001 the first message must be auth"
    if name == "binary_frame":
        first = b"\x00\xff\xfe\x81garbage"
        return attack_with(None, not_auth, "not_auth", first=first)
    if name == "text_not_json":
        return attack_with(None, not_auth, "not_auth", first="hello")
    if name == "json_list_with_token":
        token = minted(server)
        first = json.dumps(["auth", token])
        return attack_with(token, not_auth, "not_auth", first=first)
    if name == "json_object_without_type":
        token = minted(server)
        first = json.dumps({"token": token})
        return attack_with(token, not_auth, "not_auth", first=first)
    if name == "subscribe_before_auth":
        first = json.dumps({"type": "subscribe", "execution_id": "*"})
        return attack_with(None, not_auth, "not_auth", first=first)
    if name == "no_auth_in_time":
        text = "close 4001 no auth message in time"
        return attack_with(None, text, "auth_timeout", via="none")
    if name == "leaves_before_auth":

        def leave(server: DagServer) -> str:
            with live_connect(server):
                pass  # a clean close from the client, before any auth
            return "left"

        return Attack(leave, "left", "closed_before_auth")
    if name == "foreign_origin":
        token = minted(server)
        return attack_with(
            token, "http 403", "origin", via="header", origin="https://evil.example"
        )
    raise AssertionError(f"no attack {name!r}")


ATTACKS = [
    "no_token",
    "empty_header_token",
    "expired",
    "not_yet_valid",
    "wrong_key",
    "alg_none",
    "alg_hs512_with_the_secret",
    "wrong_audience",
    "wrong_issuer",
    "token_in_url",
    "oversized_in_message",
    "oversized_in_header",
    "oversized_http_header",
    "binary_frame",
    "text_not_json",
    "json_list_with_token",
    "json_object_without_type",
    "subscribe_before_auth",
    "no_auth_in_time",
    "leaves_before_auth",
    "foreign_origin",
]
# The close reason (or HTTP refusal) each metric reason is audited with.
AUDIT_REASONS = {
    "missing": "token missing",
    "expired": "token expired",
    "not_yet_valid": "token not yet valid",
    "bad_signature": "token signature invalid",
    "algorithm": "token algorithm not accepted",
    "wrong_audience": "token audience wrong",
    "wrong_issuer": "token issuer wrong",
    "url_token": "token in URL refused; send it in a message",
    "frame_too_big": "message too big",
    "too_large": "token too large",
    "not_auth": "the first message must be auth",
    "auth_timeout": "no auth message in time",
    "closed_before_auth": "connection closed before auth",
    "origin": "origin not allowed",
}


@pytest.mark.parametrize("name", ATTACKS)
def test_live_refuses_attack_with_its_close_code_one_audit_line_and_one_count(
    live_server: DagServer, name: str
) -> None:
    attack = make_attack(name, live_server)
    mark, before = log_size(live_server), live_metrics(live_server)

    answer = attack.run(live_server)

    assert answer == attack.expected
    expected_lines = 0 if attack.reason is None else 1
    wait_until(
        lambda: len(audit_lines(live_server, mark)) >= expected_lines,
        "the audit line",
    )
    lines = audit_lines(live_server, mark)
    after = live_metrics(live_server)
    assert len(lines) == expected_lines, lines
    if attack.reason is not None:
        (line,) = lines
        assert_audit_shape(line)
        assert line["event"] == "live_refused"
        assert line["reason"] == AUDIT_REASONS[attack.reason]
        assert line.get("code") == attack.code
        assert "user" not in line
        assert after.failures_since(before) == {attack.reason: 1}
    else:
        assert after.failures_since(before) == {}
    assert after.connections == before.connections
    assert_not_logged(log_since(live_server, mark), attack.tokens)


def test_live_accepts_exactly_the_good_connections_among_attacks(
    live_server: DagServer,
) -> None:
    port = live_server.port
    good_token = minted(live_server)
    alice = signed(live_server.jwt_secret, sub="alice")
    # Each good way in: header, message, same-origin browser, another user.
    goods: list[tuple[str | None, str | None, str | None, str]] = [
        (good_token, None, None, "root"),
        (None, auth(good_token), None, "root"),
        (good_token, None, f"http://127.0.0.1:{port}", "root"),
        (None, auth(alice), None, "alice"),
        (alice, None, f"http://127.0.0.1:{port}", "alice"),
    ]
    attacks = [make_attack(name, live_server) for name in ATTACKS]
    assert len(attacks) > 4 * (len(goods) - 1), "each good connection needs a slot"
    mark, before = log_size(live_server), live_metrics(live_server)
    answers: list[str] = []
    users: list[str] = []

    with ExitStack() as stack:
        for index, attack in enumerate(attacks):
            if index % 4 == 0 and index // 4 < len(goods):
                header, first, origin, _ = goods[index // 4]
                ws = stack.enter_context(
                    live_connect(live_server, header, origin=origin)
                )
                if first is not None:
                    ws.send(first)
                users.append(first_frame(ws)["user"])
            answers.append(attack.run(live_server))
        wait_until(
            lambda: (
                live_metrics(live_server).connections == before.connections + len(users)
            ),
            "the good connections to be counted",
        )
        during = live_metrics(live_server)
    wait_until(
        lambda: live_metrics(live_server).connections == before.connections,
        "the closed connections to be uncounted",
    )
    refused = [attack.reason for attack in attacks if attack.reason is not None]
    wait_until(
        lambda: len(audit_lines(live_server, mark)) >= len(users) + len(refused),
        "the audit lines",
    )
    lines = audit_lines(live_server, mark)
    after = live_metrics(live_server)

    assert answers == [attack.expected for attack in attacks]
    assert users == [good[3] for good in goods]
    assert during.connections == before.connections + len(goods)
    accepted = [line["user"] for line in lines if line["event"] == "live_accepted"]
    assert sorted(accepted) == sorted(users)
    assert Counter(
        line["reason"] for line in lines if line["event"] == "live_refused"
    ) == Counter(AUDIT_REASONS[reason] for reason in refused)
    assert len(lines) == len(users) + len(refused)
    for line in lines:
        assert_audit_shape(line)
    assert after.failures_since(before) == dict(Counter(refused))
    tokens = [good_token, alice] + [t for attack in attacks for t in attack.tokens]
    assert_not_logged(log_since(live_server, mark), tokens)


def subscribe(execution_id: str) -> str:
    return json.dumps({"type": "subscribe", "execution_id": execution_id, "since": 0})


def test_live_closes_4003_when_a_user_subscribes_to_another_users_execution(
    live_server: DagServer,
) -> None:
    status, execution = live_server.api("POST", f"{API}/executions", {"workflow": NOOP})
    assert status == 201, execution
    owner = minted(live_server)
    mallory = signed(live_server.jwt_secret, sub="mallory")
    mark, before = log_size(live_server), live_metrics(live_server)

    with live_connect(live_server, mallory) as ws:
        first_frame(ws)
        ws.send(subscribe(execution["id"]))
        with pytest.raises(ConnectionClosed) as closed:
            first_frame(ws)
    with live_connect(live_server, owner) as ws:
        first_frame(ws)
        ws.send(subscribe(execution["id"]))
        answer = first_frame(ws)
    wait_until(
        lambda: live_metrics(live_server).connections == before.connections,
        "the closed connections to be uncounted",
    )
    lines = audit_lines(live_server, mark)
    after = live_metrics(live_server)

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4003,
        "execution not found",
    )
    assert answer["type"] in {"events", "snapshot"}
    assert [
        (line["event"], line["user"], line.get("execution_id"), line.get("code"))
        for line in lines
    ] == [
        ("live_accepted", "mallory", None, None),
        ("live_forbidden", "mallory", execution["id"], 4003),
        ("live_accepted", "root", None, None),
    ]
    assert lines[1]["reason"] == "execution not found"
    assert after.failures_since(before) == {}
    assert_not_logged(log_since(live_server, mark), [owner, mallory])


def raw_upgrade(server: DagServer, token: str) -> socket.socket:
    """A WebSocket upgrade by hand, so the test can drop the TCP connection."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /{API}/live HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}, bearer.{token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the upgrade"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101"), answer.split(b"\r\n", 1)[0]
    return sock


@pytest.mark.parametrize("ending", ["client_close", "tcp_reset", "frame_too_big"])
def test_live_connections_gauge_goes_up_on_accept_and_down_on_close(
    live_server: DagServer, ending: str
) -> None:
    token = minted(live_server)
    before = live_metrics(live_server)

    if ending == "tcp_reset":
        sock = raw_upgrade(live_server, token)
        wait_until(
            lambda: live_metrics(live_server).connections == before.connections + 1,
            "the connection to be counted",
        )
        during = live_metrics(live_server)
        # Linger 0: close() sends a reset, as a crashed client's host would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    else:
        with live_connect(live_server, token) as ws:
            first_frame(ws)
            during = live_metrics(live_server)
            if ending == "frame_too_big":
                ws.send("x" * (64 * 1024 + 1))
                with pytest.raises(ConnectionClosed) as closed:
                    first_frame(ws)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1009
    wait_until(
        lambda: live_metrics(live_server).connections == before.connections,
        "the closed connection to be uncounted",
    )

    assert during.connections == before.connections + 1


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[Any, str]:
    """An RSA private key and its public key as PEM text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode("ascii")


@pytest.mark.parametrize(
    ("algorithms", "refusal", "reason"),
    [
        (["RS256"], "token algorithm not accepted", "algorithm"),
        (["HS256", "RS256"], "token signature invalid", "bad_signature"),
    ],
)
def test_live_refuses_hs256_token_keyed_with_the_rs256_public_key(
    tmp_path: Path,
    rsa_keys: tuple[Any, str],
    algorithms: list[str],
    refusal: str,
    reason: str,
) -> None:
    private, public_pem = rsa_keys
    config = {
        "DagStudioApp": {"jwt_algorithms": algorithms, "jwt_public_key": public_pem}
    }
    with running_server(
        tmp_path / "home",
        root_dir=tmp_path / "root",
        store_path=tmp_path / "store.duckdb",
        config=config,
    ) as server:
        genuine = signed(private, "RS256", sub="bob")
        # Key confusion: the public key, known to all, as the HMAC key.
        confused = [
            hmac_signed(public_pem.encode(), sub="bob"),
            hmac_signed(public_pem.strip().encode(), sub="bob"),
        ]
        mark, before = log_size(server), live_metrics(server)

        accepted = outcome(server, first=auth(genuine))
        refused = [outcome(server, first=auth(token)) for token in confused]
        wait_until(lambda: len(audit_lines(server, mark)) >= 3, "the audit lines")
        lines = audit_lines(server, mark)
        after = live_metrics(server)
        log = log_since(server, mark)

    assert accepted == "ready bob"
    assert refused == [f"close 4001 {refusal}"] * 2
    assert [(line["event"], line.get("reason")) for line in lines] == [
        ("live_accepted", None),
        ("live_refused", refusal),
        ("live_refused", refusal),
    ]
    assert after.failures_since(before) == {reason: 2}
    assert_not_logged(log, [genuine, *confused])


@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_live_auth_timeout_setting_refuses_a_value_that_is_not_positive(
    value: float,
) -> None:
    from dagstudio_jupyter.server.app import DagStudioApp

    with pytest.raises(ValueError, match="auth_timeout_s must be more than 0"):
        DagStudioApp(auth_timeout_s=value)
