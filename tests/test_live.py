"""The live channel end to end: a real server, real WebSocket clients."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from tornado.httpclient import HTTPClientError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import TEST_JWT_SECRET
from dagstudio_jupyter._state import ExecutionState
from dagstudio_jupyter.runner import new_execution_id
from dagstudio_jupyter.server.ws import LiveHandler

from ._server import record_secret

WORKFLOW = {
    "format": "dagstudio.workflow/1",
    "id": "w",
    "phases": [
        {"id": "a", "kind": "shell", "command": "sleep 0.2"},
        {"id": "b", "kind": "noop", "after": ["a"]},
    ],
}
TERMINAL = {"completed", "failed", "cancelled"}
WAIT_S = 10.0


class DagStudioRest:
    """REST calls to the test server with its Jupyter token.

    Its first call also starts the manager's forwarding of committed events
    (idempotent): pytest-jupyter never runs the extensions' start hook, where
    a real server starts it.
    """

    def __init__(self, jp_fetch: Callable[..., Any], settings: dict[str, Any]) -> None:
        self.jp_fetch = jp_fetch
        self.manager = settings["dagstudio_manager"]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        self.manager.start()
        data = json.dumps(body) if body is not None else None
        if data is None and method == "POST":
            data = ""
        try:
            response = await self.jp_fetch(
                "dagstudio", "api", *path.split("/"), method=method, body=data
            )
        except HTTPClientError as exc:
            assert exc.response is not None, exc
            response = exc.response
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    async def token(self) -> str:
        code, body = await self.call("POST", "token")
        assert code == 200, body
        record_secret(body["token"], "live token")
        return str(body["token"])

    async def submit(self, workflow: dict[str, Any] | None = None) -> dict[str, Any]:
        code, body = await self.call(
            "POST", "executions", {"workflow": workflow or WORKFLOW}
        )
        assert code == 201, body
        return dict(body)

    async def events(self, execution_id: str) -> list[dict[str, Any]]:
        code, body = await self.call("GET", f"executions/{execution_id}/events")
        assert code == 200, body
        return list(body["events"])

    async def wait_finished(self, execution_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            code, body = await self.call("GET", f"executions/{execution_id}")
            assert code == 200, body
            if body["status"] in TERMINAL:
                return dict(body)
            await asyncio.sleep(0.05)
        raise AssertionError(f"execution {execution_id} did not finish")


@pytest.fixture
def dagstudio_settings(jp_serverapp: Any) -> dict[str, Any]:
    """The tornado settings of the test server (manager, token authority)."""
    return jp_serverapp.web_app.settings  # type: ignore[no-any-return]


@pytest.fixture
def dagstudio_rest(
    jp_fetch: Callable[..., Any],
    http_server_client: Any,
    dagstudio_settings: dict[str, Any],
) -> DagStudioRest:
    """REST client of the test server."""
    return DagStudioRest(jp_fetch, dagstudio_settings)


@pytest.fixture
def dagstudio_live_url(
    http_server_client: Any, jp_http_port: int, jp_base_url: str
) -> str:
    """The live channel's URL on the test server."""
    return f"ws://127.0.0.1:{jp_http_port}{jp_base_url}dagstudio/api/live"


def open_live(url: str, token: str | None = None, **options: Any) -> Any:
    """Connect; with `token`, offer it in the subprotocol header."""
    protocols = ["dagstudio.v1", f"bearer.{token}"] if token else ["dagstudio.v1"]
    return connect(url, subprotocols=protocols, open_timeout=WAIT_S, **options)


async def frame(ws: ClientConnection, *, timeout: float = WAIT_S) -> dict[str, Any]:
    """The next server frame that is not a ping, within `timeout` seconds."""
    # One deadline for the whole wait: pings alone must not keep it going.
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0)
        message = json.loads(await asyncio.wait_for(ws.recv(), left))
        if message["type"] != "ping":
            return dict(message)


async def close_code(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def follow(ws: ClientConnection, execution_id: str) -> list[dict[str, Any]]:
    """Events of one execution from `events` frames until its terminal event."""
    events: list[dict[str, Any]] = []
    while True:
        message = await frame(ws)
        assert message["type"] == "events", message
        assert message["execution_id"] == execution_id
        events.extend(message["events"])
        last = events[-1]
        if last["phase_id"] is None and last["status"] in TERMINAL:
            return events


def forged(claims: dict[str, Any], **changes: Any) -> str:
    """A token signed with the server's secret, with claims changed."""
    now = int(time.time())
    base = {"sub": "alice", "iss": "dagstudio", "aud": "dagstudio-live"}
    base.update(iat=now, nbf=now, exp=now + 600)
    base.update(claims)
    base.update(changes)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, TEST_JWT_SECRET)


def unsigned(claims: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    body = {"sub": "alice", "iss": "dagstudio", "aud": "dagstudio-live", **claims}
    body.update(iat=now, exp=now + 600)
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


def subscribe(execution_id: str, since: int | None = None) -> str:
    """A `subscribe` message; without `since` the server takes 0."""
    message: dict[str, Any] = {"type": "subscribe", "execution_id": execution_id}
    if since is not None:
        message["since"] = since
    return json.dumps(message)


async def barrier(ws: ClientConnection) -> None:
    """Wait until the server has handled every message sent before."""
    await ws.send(json.dumps({"type": "barrier"}))
    answer = await frame(ws)
    assert answer["type"] == "error", answer


def assert_seq_gap_free(events: list[dict[str, Any]], first: int) -> None:
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(first, first + len(seqs))), seqs


async def test_live_answers_ready_when_token_in_subprotocol_header(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()

    async with open_live(dagstudio_live_url, token) as ws:
        ready = await frame(ws)

    assert ready["type"] == "ready"
    assert ws.subprotocol == "dagstudio.v1"
    assert (
        ready["user"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    )


async def test_live_answers_ready_when_token_in_first_message(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()

    async with open_live(dagstudio_live_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        ready = await frame(ws)

    assert ready["type"] == "ready"
    assert ready["user"]


async def test_live_subscribe_streams_every_event_in_order(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        execution = await dagstudio_rest.submit()

        await ws.send(subscribe(execution["id"], 0))
        events = await follow(ws, execution["id"])

    assert_seq_gap_free(events, 1)
    assert (events[-1]["phase_id"], events[-1]["status"]) == (None, "completed")
    stored = await dagstudio_rest.events(execution["id"])
    assert [(e["seq"], e["status"]) for e in events] == [
        (e["seq"], e["status"]) for e in stored
    ]


async def test_live_subscribe_sends_only_events_after_since_when_run_is_under_way(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    execution = await dagstudio_rest.submit()
    while len(await dagstudio_rest.events(execution["id"])) < 2:
        await asyncio.sleep(0.02)

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe(execution["id"], 2))
        events = await follow(ws, execution["id"])

    assert_seq_gap_free(events, 3)
    stored = await dagstudio_rest.events(execution["id"])
    assert events == [e for e in stored if e["seq"] > 2]


async def test_live_subscribe_sends_snapshot_when_since_is_past_the_end(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    execution = await dagstudio_rest.submit()
    finished = await dagstudio_rest.wait_finished(execution["id"])

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe(execution["id"], 10**6))
        snapshot = await frame(ws)

    assert snapshot["type"] == "snapshot"
    assert snapshot["execution"]["id"] == execution["id"]
    assert snapshot["execution"]["last_seq"] == finished["last_seq"]
    assert snapshot["execution"]["status"] == "completed"


async def test_live_subscribe_has_no_gap_or_duplicate_when_events_race_the_backlog(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    # A chain of noop phases: events keep coming while backlogs are read.
    chain = [{"id": "n0", "kind": "noop"}]
    chain += [
        {"id": f"n{i}", "kind": "noop", "after": [f"n{i - 1}"]} for i in range(1, 800)
    ]
    workflow = {**WORKFLOW, "phases": chain}
    token = await dagstudio_rest.token()
    execution = await dagstudio_rest.submit(workflow)
    request = subscribe(execution["id"])

    async def watch(delay_s: float) -> list[dict[str, Any]]:
        async with open_live(dagstudio_live_url, token) as ws:
            await frame(ws)
            await asyncio.sleep(delay_s)
            await ws.send(request)
            return await follow(ws, execution["id"])

    seen = await asyncio.gather(*(watch(i * 0.01) for i in range(30)))

    stored = await dagstudio_rest.events(execution["id"])
    assert len(stored) > 120
    for events in seen:
        assert_seq_gap_free(events, 1)
        assert events == stored


async def test_live_subscribe_sends_snapshot_then_live_events_when_backlog_is_too_long(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(LiveHandler, "max_backlog", 3)
    token = await dagstudio_rest.token()
    execution = await dagstudio_rest.submit()
    while len(await dagstudio_rest.events(execution["id"])) < 4:
        await asyncio.sleep(0.02)

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe(execution["id"]))
        snapshot = await frame(ws)
        rest = []
        if snapshot["execution"]["status"] not in TERMINAL:
            rest = await follow(ws, execution["id"])

    assert snapshot["type"] == "snapshot"
    assert snapshot["execution"]["last_seq"] >= 4
    assert_seq_gap_free(rest, snapshot["execution"]["last_seq"] + 1)
    stored = await dagstudio_rest.events(execution["id"])
    assert snapshot["execution"]["last_seq"] + len(rest) == stored[-1]["seq"]


async def test_live_unsubscribe_stops_events_of_that_execution(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        execution = await dagstudio_rest.submit()
        await ws.send(subscribe(execution["id"]))
        await frame(ws)

        await ws.send(
            json.dumps({"type": "unsubscribe", "execution_id": execution["id"]})
        )
        await ws.send(json.dumps({"type": "barrier"}))
        while (message := await frame(ws))["type"] != "error":
            assert message["type"] == "events"  # sent before the unsubscribe
        await dagstudio_rest.wait_finished(execution["id"])
        await asyncio.sleep(0.1)  # past the 50 ms coalescing delay

        await barrier(ws)  # fails if an events frame comes first


async def test_live_overview_sends_execution_level_events_of_new_execution(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe("*"))
        await barrier(ws)  # the subscription is taken before the run starts
        execution = await dagstudio_rest.submit()

        events = await follow(ws, execution["id"])

    assert all(event["phase_id"] is None for event in events)
    assert [event["status"] for event in events] == ["running", "completed"]


async def test_live_overview_skips_executions_of_other_users(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
) -> None:
    manager = dagstudio_settings["dagstudio_manager"]
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe("*"))
        await barrier(ws)

        others = await manager.submit(WORKFLOW, "mallory")
        mine = await dagstudio_rest.submit()
        events = await follow(ws, mine["id"])

    assert others["id"] != mine["id"]
    assert [event["status"] for event in events] == ["running", "completed"]


def deleted(execution_id: str) -> dict[str, Any]:
    """The frame that says an execution was deleted."""
    return {"type": "deleted", "execution_id": execution_id}


async def until_deleted(ws: ClientConnection) -> dict[str, Any]:
    """Skip `events` frames up to the next other frame (a `deleted` one)."""
    while (message := await frame(ws))["type"] == "events":
        pass
    return message


async def test_live_sends_deleted_to_a_subscriber_when_execution_is_deleted(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        execution = await dagstudio_rest.submit()
        await ws.send(subscribe(execution["id"]))
        await follow(ws, execution["id"])
        await dagstudio_rest.wait_finished(execution["id"])

        code, _ = await dagstudio_rest.call("DELETE", f"executions/{execution['id']}")
        message = await frame(ws)
        await barrier(ws)  # fails if any frame of it follows

    assert code == 204
    assert message == deleted(execution["id"])


async def test_live_subscribing_to_an_execution_just_deleted_says_deleted_not_4003(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    # A page that opens an execution as it is deleted (or after) must not
    # lose its whole socket, and with it the overview's own `deleted` frame.
    token = await dagstudio_rest.token()
    execution = await dagstudio_rest.submit()
    await dagstudio_rest.wait_finished(execution["id"])
    await dagstudio_rest.call("DELETE", f"executions/{execution['id']}")
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)

        await ws.send(subscribe(execution["id"]))
        message = await frame(ws)
        await barrier(ws)  # the socket still serves, and says it only once

    assert message == deleted(execution["id"])


async def test_live_sends_deleted_to_the_overview_once_when_also_subscribed(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()
    async with (
        open_live(dagstudio_live_url, token) as overview,
        open_live(dagstudio_live_url, token) as both,
    ):
        for ws in (overview, both):
            await frame(ws)
            await ws.send(subscribe("*"))
            await barrier(ws)
        execution = await dagstudio_rest.submit()
        await both.send(subscribe(execution["id"]))
        await follow(overview, execution["id"])
        await follow(both, execution["id"])
        await dagstudio_rest.wait_finished(execution["id"])

        code, _ = await dagstudio_rest.call("DELETE", f"executions/{execution['id']}")
        seen = [await until_deleted(overview), await until_deleted(both)]
        await barrier(overview)
        await barrier(both)  # fails on a second `deleted` frame

    assert code == 204
    assert seen == [deleted(execution["id"])] * 2


async def test_live_sends_deleted_only_to_the_owners_overview(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
) -> None:
    manager = dagstudio_settings["dagstudio_manager"]
    token = await dagstudio_rest.token()
    async with (
        open_live(dagstudio_live_url, token) as mine,
        open_live(dagstudio_live_url, forged({}, sub="mallory")) as theirs,
    ):
        for ws in (mine, theirs):
            await frame(ws)
            await ws.send(subscribe("*"))
            await barrier(ws)
        my_run = await dagstudio_rest.submit()
        their_run = await manager.submit(WORKFLOW, "mallory")
        await dagstudio_rest.wait_finished(my_run["id"])
        deadline = time.monotonic() + WAIT_S
        while (await manager.load(their_run["id"]))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, "mallory's run did not finish"
            await asyncio.sleep(0.05)

        code, _ = await dagstudio_rest.call("DELETE", f"executions/{my_run['id']}")
        await manager.delete(their_run["id"], "mallory")
        seen = {
            "mine": await until_deleted(mine),
            "theirs": await until_deleted(theirs),
        }
        await barrier(mine)  # fails if mallory's deletion reached this user
        await barrier(theirs)

    assert code == 204
    assert seen == {"mine": deleted(my_run["id"]), "theirs": deleted(their_run["id"])}


@pytest.mark.parametrize(
    ("case", "token", "reason"),
    [
        ("garbage", "not-a-token", "token malformed"),
        ("empty", "", "token missing"),
        ("expired", forged({}, iat=1, nbf=1, exp=2), "token expired"),
        (
            "wrong_signature",
            jwt.encode(
                {
                    "sub": "alice",
                    "iss": "dagstudio",
                    "aud": "dagstudio-live",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 600,
                },
                "another-secret-of-enough-length-0123456789",
            ),
            "token signature invalid",
        ),
        ("wrong_audience", forged({}, aud="jupyterhub"), "token audience wrong"),
        ("wrong_issuer", forged({}, iss="someone-else"), "token issuer wrong"),
        ("alg_none", unsigned({}), "token algorithm not accepted"),
        ("no_sub", forged({}, sub=None), "token claim missing"),
    ],
)
async def test_live_closes_4001_when_token_is_bad(
    dagstudio_live_url: str, case: str, token: str, reason: str
) -> None:
    async with open_live(dagstudio_live_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        code, text = await close_code(ws)

    assert (code, text) == (4001, reason), case
    assert not token or token not in text


async def test_live_closes_4001_when_header_token_is_bad(
    dagstudio_live_url: str,
) -> None:
    token = forged({}, aud="jupyterhub")

    async with open_live(dagstudio_live_url, token) as ws:
        code, text = await close_code(ws)

    assert (code, text) == (4001, "token audience wrong")


async def test_live_closes_4001_when_no_auth_in_time(
    dagstudio_live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LiveHandler, "auth_timeout_s", 0.3)
    started = time.monotonic()

    async with open_live(dagstudio_live_url) as ws:
        code, _ = await close_code(ws)

    assert code == 4001
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "subscribe", "execution_id": "*"}',
        "garbage",
        '["auth"]',
        '{"token": 1}',
    ],
)
async def test_live_closes_4001_when_first_message_is_not_auth(
    dagstudio_live_url: str, message: str
) -> None:
    async with open_live(dagstudio_live_url) as ws:
        await ws.send(message)
        code, _ = await close_code(ws)

    assert code == 4001


def server_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The server's log lines; the websockets client's own are left out."""
    return [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("websockets")
    ]


def quiet_client_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the server at DEBUG; the websockets client would log its headers."""
    # In this order: each call also sets the capture handler's level.
    caplog.set_level(logging.INFO, logger="websockets")
    caplog.set_level(logging.DEBUG)


@pytest.mark.parametrize("name", ["token", "jwt", "access_token", "x"])
async def test_live_closes_4001_when_token_is_in_url_and_does_not_log_it(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    token = await dagstudio_rest.token()
    quiet_client_debug_log(caplog)

    async with open_live(f"{dagstudio_live_url}?{name}={token}", token) as ws:
        code, text = await close_code(ws)

    assert (code, text) == (4001, "token in URL refused; send it in a message")
    logged = "\n".join(server_log(caplog))
    assert "dagstudio/api/live" in logged, "the request line was not logged at all"
    assert token.split(".")[2] not in logged


async def test_live_logs_accepted_user_and_never_the_token(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await dagstudio_rest.token()
    quiet_client_debug_log(caplog)

    async with open_live(dagstudio_live_url, token) as ws:
        user = (await frame(ws))["user"]
    tampered = token.rsplit(".", 1)[0] + "." + "A" * 43
    async with open_live(dagstudio_live_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": tampered}))
        await close_code(ws)

    logged = server_log(caplog)
    assert f"live connection accepted for user {user}" in logged
    assert "live connection refused: token signature invalid" in logged
    payload = token.split(".")[1]
    assert not [line for line in logged if payload in line or "A" * 43 in line]


async def test_live_closes_4003_when_execution_is_unknown(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe("nope", 0))
        code, text = await close_code(ws)

    assert (code, text) == (4003, "execution not found")


async def test_live_closes_4003_when_execution_belongs_to_another_user(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
) -> None:
    store = dagstudio_settings["dagstudio_manager"].store
    state = ExecutionState(new_execution_id(), WORKFLOW, owner="mallory")
    await asyncio.to_thread(store.create_execution, state.to_dict())
    token = await dagstudio_rest.token()

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        await ws.send(subscribe(state.id, 0))
        code, text = await close_code(ws)

    assert (code, text) == (4003, "execution not found")


async def test_live_refuses_upgrade_when_origin_is_foreign(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()

    with pytest.raises(InvalidStatus) as info:
        async with open_live(dagstudio_live_url, token, origin="http://evil.example"):
            pass

    assert info.value.response.status_code == 403


async def test_live_accepts_upgrade_when_origin_is_the_server(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str, jp_http_port: int
) -> None:
    token = await dagstudio_rest.token()

    async with open_live(
        dagstudio_live_url, token, origin=f"http://127.0.0.1:{jp_http_port}"
    ) as ws:
        ready = await frame(ws)

    assert ready["type"] == "ready"


@pytest.mark.parametrize(
    "setting",
    [
        {"allow_origin": "http://trusted.example"},
        {"allow_origin_pat": r"http://.*\.example"},
    ],
)
async def test_live_accepts_upgrade_when_jupyter_allows_the_origin(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, str],
) -> None:
    for name, value in setting.items():
        monkeypatch.setitem(dagstudio_settings, name, value)
    token = await dagstudio_rest.token()

    async with open_live(
        dagstudio_live_url, token, origin="http://trusted.example"
    ) as ws:
        ready = await frame(ws)
    with pytest.raises(InvalidStatus):
        async with open_live(dagstudio_live_url, token, origin="http://evil.test"):
            pass

    assert ready["type"] == "ready"


async def test_live_sends_pings_at_the_configured_interval(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str
) -> None:
    token = await dagstudio_rest.token()

    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        started = time.monotonic()
        ping = json.loads(await asyncio.wait_for(ws.recv(), 3))

    assert ping == {"type": "ping"}
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "message",
    [
        "garbage",
        '{"type": "dance"}',
        '{"type": "subscribe", "execution_id": 7}',
        '{"type": "subscribe", "execution_id": "a/b"}',
        '{"type": "subscribe", "execution_id": "x", "since": -1}',
        '{"type": "subscribe", "execution_id": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"type": "subscribe", "execution_id": "x", "since": NaN}',
        # Past the store's 64-bit integers: refused as REST's `since` is.
        '{"type": "subscribe", "execution_id": "x", "since": 1' + "0" * 100 + "}",
    ],
)
async def test_live_answers_bad_request_and_stays_open_when_message_is_bad(
    dagstudio_rest: DagStudioRest, dagstudio_live_url: str, message: str
) -> None:
    token = await dagstudio_rest.token()
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)

        await ws.send(message)
        error = await frame(ws)
        ping = json.loads(await asyncio.wait_for(ws.recv(), 3))

    assert error["type"] == "error"
    assert error["error"] == "bad_request"
    assert error["message"]
    assert ping == {"type": "ping"}


@pytest.mark.parametrize("ending", ["close", "abort"])
async def test_live_releases_manager_listener_when_client_goes_away(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
    ending: str,
) -> None:
    # No public count of listeners; the manager's lists are read directly.
    manager = dagstudio_settings["dagstudio_manager"]
    lists = (manager._listeners, manager._deletion_listeners)
    token = await dagstudio_rest.token()
    before = [len(listeners) for listeners in lists]
    async with open_live(dagstudio_live_url, token) as ws:
        await frame(ws)
        during = [len(listeners) for listeners in lists]
        if ending == "abort":
            ws.transport.abort()

    deadline = time.monotonic() + WAIT_S
    while [
        len(listeners) for listeners in lists
    ] != before and time.monotonic() < deadline:
        await asyncio.sleep(0.02)

    assert during == [count + 1 for count in before]
    assert [len(listeners) for listeners in lists] == before


async def test_live_closes_1009_when_frame_is_too_large(
    dagstudio_live_url: str,
) -> None:
    async with open_live(dagstudio_live_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "x" * 100_000}))
        code, _ = await close_code(ws)

    assert code == 1009


async def test_live_closes_4008_when_client_never_reads_and_others_go_on(
    dagstudio_rest: DagStudioRest,
    dagstudio_live_url: str,
    dagstudio_settings: dict[str, Any],
    jp_http_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(LiveHandler, "max_pending_bytes", 256 * 1024)
    token = await dagstudio_rest.token()
    user = jwt.decode(token, options={"verify_signature": False})["sub"]
    bulky = {**WORKFLOW, "phases": [{"id": "a", "params": {"blob": "x" * 500_000}}]}
    state = ExecutionState(new_execution_id(), bulky, owner=user)
    store = dagstudio_settings["dagstudio_manager"].store
    await asyncio.to_thread(store.create_execution, state.to_dict())
    request = subscribe(state.id, 10**6)
    # A small receive buffer, and a client that stops reading after one frame.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", jp_http_port))

    async with (
        open_live(
            dagstudio_live_url, token, sock=sock, max_queue=1, max_size=None
        ) as slow,
        open_live(dagstudio_live_url, token) as other,
    ):
        await frame(slow)
        await frame(other)
        for _ in range(40):  # each answered by a 0.5 MB snapshot
            await slow.send(request)
            await asyncio.sleep(0.03)
        await other.send(request)
        answer = await frame(other)
        code, text = await close_code(slow)

    assert answer["type"] == "snapshot"
    assert (code, text) == (4008, "client too slow")
