"""The live channel: a WebSocket streaming committed events to token holders.

Protocol (JSON text frames). The client authenticates with a JWT from
`POST dagstudio/api/token`, either in its first message
`{"type": "auth", "token": ...}` or by offering the subprotocols
`dagstudio.v1, bearer.<jwt>` (the server selects `dagstudio.v1`). The
server answers `{"type": "ready", "user": ...}`; then the client sends
`subscribe` (`execution_id` and `since`, or `"*"`) and `unsubscribe`, and
the server sends `events`, `snapshot`, `deleted`, `ping` and `error` frames.
`{"type": "deleted", "execution_id": ...}` says an execution was deleted;
it goes once to a connection that follows that execution or the `"*"`
overview (for the user's own executions), and nothing more of it follows.

Close codes (the constants below):

- 4001: token missing, malformed, invalid or expired; no auth within
  `DagStudioApp.auth_timeout_s`; any other message before auth; a token in
  the URL.
- 4003: an execution that is unknown or not visible to the user (one
  answer for both, so ids cannot be probed).
- 4008: the client is too slow: more than `max_pending_bytes` or
  `max_pending_writes` of frames are waiting to reach it.
- 1009: a client frame over `max_message_size` (closed by tornado).
- HTTP 403 instead of an upgrade: an `Origin` that Jupyter's
  `allow_origin` / `allow_origin_pat` settings do not allow.

Audit: every connection that reaches `open()` gets exactly one JSON line on
the `dagstudio.audit` logger, `live_accepted` or `live_refused` (refused
upgrades for their `Origin` too), and a refused subscription (4003) one
`live_forbidden` line more; see `write_audit`. `LIVE_CONNECTIONS` counts the
accepted connections open now and `LIVE_AUTH_FAILURES` the refusals, by the
reason keys of `REFUSALS` and of `auth.TokenError`.

Known limitation: a connection stays open after its token expires; the
token is checked once, when the connection authenticates.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import ioloop
from tornado.websocket import (
    WebSocketClosedError,
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketProtocol13,
)

from .._json import JSONInputError, loads_strict
from ..errors import NotFoundError
from .auth import TokenError
from .manager import StoreUnavailableError
from .metrics import LIVE_AUTH_FAILURES, LIVE_CONNECTIONS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..runner import Event
    from .auth import TokenAuthority
    from .manager import ExecutionManager

SUBPROTOCOL = "dagstudio.v1"
BEARER_PREFIX = "bearer."
ALL = "*"
AUDIT_LOGGER = "dagstudio.audit"
CLOSE_AUTH_FAILED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TOO_SLOW = 4008
MAX_SINCE = 2**62
CLOSE_TOO_BIG = 1009  # RFC 6455 "message too big"; tornado sends it itself
ORIGIN_REFUSED_STATUS = 403  # an HTTP status: the upgrade never happens
DEFAULT_AUTH_TIMEOUT_S = 5.0
FORBIDDEN_TEXT = "execution not found"
# Refusals that are not a bad token: reason key -> (close code, close reason).
# A bad token is refused 4001 with `TokenError.reason` and its text. The keys
# are the `reason` label of LIVE_AUTH_FAILURES; the texts go into the close
# frame and the audit line. `closed_before_auth` sends no close code: the
# client left (or broke the protocol) before it authenticated.
REFUSALS: dict[str, tuple[int | None, str]] = {
    "url_token": (CLOSE_AUTH_FAILED, "token in URL refused; send it in a message"),
    "auth_timeout": (CLOSE_AUTH_FAILED, "no auth message in time"),
    "not_auth": (CLOSE_AUTH_FAILED, "the first message must be auth"),
    "frame_too_big": (CLOSE_TOO_BIG, "message too big"),
    "closed_before_auth": (None, "connection closed before auth"),
    "origin": (ORIGIN_REFUSED_STATUS, "origin not allowed"),
}
audit_log = logging.getLogger(AUDIT_LOGGER)
# Query arguments that would put a credential into a URL (and so into logs).
_CREDENTIAL_ARGUMENT = re.compile(r"token|jwt|bearer|auth", re.IGNORECASE)
_JWT_SHAPE = re.compile(r"^eyJ[\w-]*\.[\w-]*\.[\w-]*$")
_ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Subscription:
    """One execution followed by a connection, and how far it has been sent."""

    execution_id: str
    loading: bool = True
    sent_seq: int = 0
    # Live events that arrive while the backlog is read; sent after it.
    held: list[Event] = field(default_factory=list)


class LiveSession:
    """The state of one live connection: auth, subscriptions and the outbox.

    All methods run on the server's event loop. Live events are coalesced
    per execution and flushed every `flush_interval_s`; every write counts
    against a bounded budget of pending bytes and frames.
    """

    def __init__(self, handler: LiveHandler) -> None:
        self.handler = handler
        self.log = handler.log
        self.manager: ExecutionManager = handler.settings["dagstudio_manager"]
        self.tokens: TokenAuthority = handler.settings["dagstudio_tokens"]
        self.remote_ip: str | None = handler.request.remote_ip
        self.user: str | None = None
        self.closed = False
        # Accepted or refused yet: each connection gets one audit line.
        self._decided = False
        # Counted in LIVE_CONNECTIONS (until stop()).
        self._counted = False
        self.subscriptions: dict[str, Subscription] = {}
        self._deleted_sent: set[str] = set()
        self.all_executions = False
        self._outbox: dict[str, list[Event]] = {}
        self._owner_lookups: dict[str, list[Event]] = {}
        self._hidden: set[str] = set()
        self._pending_bytes = 0
        self._pending_writes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.get_running_loop()
        self._auth_timer: asyncio.TimerHandle | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        self._pinger: ioloop.PeriodicCallback | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self, *, header_token: str | None, url_has_token: bool) -> None:
        """Authenticate from the handshake, or wait for an `auth` message."""
        if url_has_token:
            self.refuse_auth("url_token")
        elif header_token is not None:
            self.authenticate(header_token)
        else:
            timeout = self.handler.auth_timeout_s
            self._auth_timer = self._loop.call_later(timeout, self._auth_timed_out)

    def _auth_timed_out(self) -> None:
        self._auth_timer = None
        if self.user is None:
            self.refuse_auth("auth_timeout")

    def authenticate(self, token: Any) -> None:
        """Check the token; answer `ready` or close 4001."""
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        if self.closed or self._decided:
            return
        try:
            claims = self.tokens.verify(token if isinstance(token, str) else "")
        except TokenError as exc:
            self.refuse_auth(exc.reason, str(exc))
            return
        self.user = claims["sub"]
        self._decided = self._counted = True
        LIVE_CONNECTIONS.inc()
        self.log.info("live connection accepted for user %s", self.user)
        write_audit("live_accepted", self.remote_ip, user=self.user)
        self.manager.add_listener(self.on_events)
        self.manager.add_deletion_listener(self.on_deleted)
        self.send({"type": "ready", "user": self.user})
        interval_s = float(self.handler.settings.get("dagstudio_ping_interval_s", 20))
        if interval_s > 0:
            self._pinger = ioloop.PeriodicCallback(self._ping, interval_s * 1000)
            self._pinger.start()

    def _ping(self) -> None:
        self.send({"type": "ping"})

    def refuse_auth(self, reason: str, text: str | None = None) -> None:
        """Refuse a connection that has not authenticated: log, count, close.

        `reason` is a key of `REFUSALS` or a `TokenError.reason` (then `text`
        is the error's text); neither ever holds the token.
        """
        if self.closed or self._decided:
            return
        code, text = REFUSALS.get(reason, (CLOSE_AUTH_FAILED, text or reason))
        self.record_refusal(reason, text, code)
        if code is not None:
            self.close(code, text)

    def record_refusal(self, reason: str, text: str, code: int | None) -> None:
        """The log, audit line and metric of a refused connection, once."""
        self._decided = True
        self.log.warning("live connection refused: %s", text)
        LIVE_AUTH_FAILURES.labels(reason=reason).inc()
        write_audit("live_refused", self.remote_ip, reason=text, code=code)

    def connection_closed(self, sent_code: int | None) -> None:
        """The socket is gone; `sent_code` is the close code the server sent.

        A connection that ended before it was accepted or refused is
        recorded as refused: tornado closed it for a frame over
        `max_message_size` (1009), or the client left or broke the protocol.
        """
        if not self._decided:
            reason = (
                "frame_too_big" if sent_code == CLOSE_TOO_BIG else "closed_before_auth"
            )
            code, text = REFUSALS[reason]
            self.record_refusal(reason, text, code)
        self.stop()

    def forbid(self, execution_id: str) -> None:
        """Close 4003 for a subscription the user may not have; audited."""
        if self.closed:
            return
        self.log.warning(
            "live subscription refused for user %s: %s", self.user, execution_id
        )
        write_audit(
            "live_forbidden",
            self.remote_ip,
            user=self.user,
            execution_id=execution_id,
            reason=FORBIDDEN_TEXT,
            code=CLOSE_FORBIDDEN,
        )
        self.close(CLOSE_FORBIDDEN, FORBIDDEN_TEXT)

    def close(self, code: int, reason: str) -> None:
        """Stop serving and close with `code`; the reason never holds a token."""
        if self.closed:
            return
        self.stop()
        self.handler.close(code, reason)

    def stop(self) -> None:
        """Release the listener, timers and tasks; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self._counted:
            self._counted = False
            LIVE_CONNECTIONS.dec()
        self.manager.remove_listener(self.on_events)
        self.manager.remove_deletion_listener(self.on_deleted)
        for timer in (self._auth_timer, self._flush_timer):
            if timer is not None:
                timer.cancel()
        self._auth_timer = self._flush_timer = None
        if self._pinger is not None:
            self._pinger.stop()
            self._pinger = None
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks.clear()
        self.subscriptions.clear()
        self._outbox.clear()
        self._owner_lookups.clear()

    # -- client messages ---------------------------------------------------

    def receive(self, message: str | bytes) -> None:
        """Handle one client frame."""
        if self.closed:
            return
        request = _parse(message)
        kind = request.get("type") if request is not None else None
        if self.user is None:
            if request is not None and kind == "auth":
                self.authenticate(request.get("token"))
            else:
                self.refuse_auth("not_auth")
        elif request is None:
            self.send_error(
                "bad_request", "a message must be a JSON object with a type"
            )
        elif kind == "subscribe":
            self._subscribe_request(request)
        elif kind == "unsubscribe":
            self.unsubscribe(request.get("execution_id"))
        elif kind == "auth":
            self.send_error("bad_request", "this connection is already authenticated")
        elif kind != "pong":
            self.send_error("bad_request", f"unknown message type {kind!r}")

    def _subscribe_request(self, request: dict[str, Any]) -> None:
        execution_id, since = request.get("execution_id"), request.get("since", 0)
        limit = self.handler.max_subscriptions
        if execution_id == ALL:
            self.all_executions = True
        elif not isinstance(execution_id, str) or not _ID_SHAPE.match(execution_id):
            self.send_error(
                "bad_request", "execution_id must be an execution id or '*'"
            )
        elif (
            isinstance(since, bool)
            or not isinstance(since, int)
            or not 0 <= since <= MAX_SINCE
        ):
            # Bounded as the REST `since` is: the store's integers are 64-bit.
            self.send_error(
                "bad_request", f"since must be a whole number, 0 to {MAX_SINCE}"
            )
        elif (
            execution_id not in self.subscriptions and len(self.subscriptions) >= limit
        ):
            self.send_error(
                "bad_request", f"at most {limit} subscriptions per connection"
            )
        else:
            sub = self.subscriptions[execution_id] = Subscription(execution_id)
            # Live frames queued for an earlier subscription would repeat the backlog.
            self._outbox.pop(execution_id, None)
            self._spawn(self.subscribe(sub, since))

    def unsubscribe(self, execution_id: Any) -> None:
        """Send nothing more for `execution_id` ('*' stops the overview feed)."""
        if execution_id == ALL:
            self.all_executions = False
            self._owner_lookups.clear()
        elif isinstance(execution_id, str):
            self.subscriptions.pop(execution_id, None)
            self._outbox.pop(execution_id, None)

    async def subscribe(self, sub: Subscription, since: int) -> None:
        """Send the events after `since` (or a snapshot), then follow live.

        `sub` holds the live events that arrive meanwhile; the listener was
        added before the backlog is read, so together they leave no gap, and
        held events the backlog already covered are dropped by `seq`.
        """
        assert self.user is not None
        execution_id, limit = sub.execution_id, self.handler.max_backlog
        execution: dict[str, Any] | None = None
        try:
            events: list[Event] = await self.manager.events(
                execution_id, self.user, since=since, limit=limit + 1
            )
            if not events or len(events) > limit:
                execution = await self.manager.get(execution_id, self.user)
        except NotFoundError:
            if self.subscriptions.get(execution_id) is not sub:
                return  # deleted meanwhile, and already said so
            if self.manager.deleted_for(execution_id, self.user):
                # Gone before its deletion was announced, or before this
                # subscription came: say so, and keep the socket's others.
                self.subscriptions.pop(execution_id, None)
                self._say_deleted(execution_id)
                return
            self.forbid(execution_id)
            return
        except StoreUnavailableError as exc:
            self.send_error("store_unavailable", str(exc))
            self.subscriptions.pop(execution_id, None)
            return
        if self.subscriptions.get(execution_id) is not sub:
            return  # unsubscribed, replaced or closed meanwhile
        if execution is not None and (events or since > execution["last_seq"]):
            # Too much backlog, or `since` is past the end: start from the state.
            self.send({"type": "snapshot", "execution": execution})
            sub.sent_seq = execution["last_seq"]
        else:
            self._send_events(execution_id, events)
            sub.sent_seq = events[-1]["seq"] if events else since
        held, sub.held, sub.loading = sub.held, [], False
        for event in held:
            self._follow(sub, event)

    def _send_events(self, execution_id: str, events: list[Event]) -> None:
        size = self.handler.backlog_frame_events
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            self.send({"type": "events", "execution_id": execution_id, "events": chunk})

    # -- live events -------------------------------------------------------

    def on_events(self, events: list[Event]) -> None:
        """The manager's listener: route each committed event to its stream."""
        if self.closed:
            return
        for event in events:
            execution_id = event["execution_id"]
            sub = self.subscriptions.get(execution_id)
            if sub is not None:
                self._follow(sub, event)
            elif self.all_executions and event.get("phase_id") is None:
                self._overview(execution_id, event)

    def on_deleted(self, execution: Mapping[str, Any]) -> None:
        """The manager's deletion listener: one `deleted` frame, then silence.

        Only for the user's own executions, so a deletion tells nothing about
        the executions of others.
        """
        if self.closed or self.user is None:
            return
        if not self.manager.visible(execution, self.user):
            return
        execution_id = execution["id"]
        followed = self.subscriptions.pop(execution_id, None) is not None
        self._outbox.pop(execution_id, None)
        self._owner_lookups.pop(execution_id, None)
        if followed or self.all_executions:
            self._say_deleted(execution_id)

    def _say_deleted(self, execution_id: str) -> None:
        """One `deleted` frame per execution and socket."""
        if execution_id in self._deleted_sent:
            return
        self._deleted_sent.add(execution_id)
        self.send({"type": "deleted", "execution_id": execution_id})

    def _follow(self, sub: Subscription, event: Event) -> None:
        if sub.loading:
            sub.held.append(event)
        elif event["seq"] > sub.sent_seq:
            sub.sent_seq = event["seq"]
            self._queue(sub.execution_id, event)

    def _overview(self, execution_id: str, event: Event) -> None:
        """Execution-level events of the user's executions, for the `*` feed."""
        if execution_id in self._owner_lookups:
            self._owner_lookups[execution_id].append(event)
        elif execution_id in self.manager.owners:
            if self.manager.owners[execution_id] == self.user:
                self._queue(execution_id, event)
        elif execution_id not in self._hidden:
            self._owner_lookups[execution_id] = [event]
            self._spawn(self._look_up_owner(execution_id))

    async def _look_up_owner(self, execution_id: str) -> None:
        assert self.user is not None
        try:
            await self.manager.get(execution_id, self.user)
            visible = True
        except (NotFoundError, StoreUnavailableError):
            visible = False
        waiting = self._owner_lookups.pop(execution_id, [])
        if not visible:
            self._hidden.add(execution_id)
        elif self.all_executions and execution_id not in self.subscriptions:
            for event in waiting:
                self._queue(execution_id, event)

    def _queue(self, execution_id: str, event: Event) -> None:
        self._outbox.setdefault(execution_id, []).append(event)
        if self._flush_timer is None:
            delay = self.handler.flush_interval_s
            self._flush_timer = self._loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Send one `events` frame per execution with what was coalesced."""
        self._flush_timer = None
        outbox, self._outbox = self._outbox, {}
        for execution_id, events in outbox.items():
            self.send(
                {"type": "events", "execution_id": execution_id, "events": events}
            )

    # -- writing -----------------------------------------------------------

    def send_error(self, code: str, message: str) -> None:
        """An `error` frame; the connection stays open."""
        self.send({"type": "error", "error": code, "message": message})

    def send(self, frame: dict[str, Any]) -> None:
        """Write a frame, or close 4008 when too much is already waiting."""
        if self.closed:
            return
        handler = self.handler
        if (
            self._pending_bytes >= handler.max_pending_bytes
            or self._pending_writes >= handler.max_pending_writes
        ):
            self.log.warning(
                "closing live connection of user %s: %d bytes in %d frames not sent",
                self.user,
                self._pending_bytes,
                self._pending_writes,
            )
            self.close(CLOSE_TOO_SLOW, "client too slow")
            return
        data = json.dumps(frame, separators=(",", ":"), default=str)
        try:
            written = handler.write_message(data)
        except WebSocketClosedError:
            self.stop()
            return
        self._pending_bytes += len(data)
        self._pending_writes += 1
        written.add_done_callback(functools.partial(self._written, len(data)))

    def _written(self, size: int, future: asyncio.Future[None]) -> None:
        self._pending_bytes -= size
        self._pending_writes -= 1
        if future.cancelled() or future.exception() is not None:
            self.stop()  # the socket is gone: drop the listener

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("live connection task failed", exc_info=task.exception())
            self.send_error("internal", "internal server error; see the server log")


def write_audit(event: str, remote_ip: str | None, **fields: Any) -> None:
    """Write one audit line: a JSON object on the `dagstudio.audit` logger.

    The line holds `event`, `time` (ISO 8601, UTC), `remote_ip` and the
    `fields` that are not None (`user`, `reason`, `code`, ...). Callers pass
    no token nor any part of one. Accepted connections are logged at INFO,
    everything refused at WARNING.
    """
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    line: dict[str, Any] = {
        "event": event,
        "time": now.replace("+00:00", "Z"),
        "remote_ip": remote_ip,
    }
    line.update((name, value) for name, value in fields.items() if value is not None)
    level = logging.INFO if event == "live_accepted" else logging.WARNING
    audit_log.log(level, "%s", json.dumps(line, separators=(",", ":")))


class _LiveProtocol(WebSocketProtocol13):
    """Tornado's protocol, keeping the first close code the server sent.

    Tornado closes a connection itself (1009) when a frame is over
    `max_message_size` and tells the handler nothing of it; the audit line
    and the metric need to know.
    """

    sent_close_code: int | None = None

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if not self.server_terminated and self.sent_close_code is None:
            self.sent_close_code = code
        super().close(code, reason)


def _has_credential(arguments: dict[str, list[bytes]]) -> bool:
    """Whether query arguments carry something that looks like a credential."""
    return any(
        _CREDENTIAL_ARGUMENT.search(name)
        or any(_JWT_SHAPE.match(value.decode("latin-1")) for value in values)
        for name, values in arguments.items()
    )


def _parse(message: str | bytes) -> dict[str, Any] | None:
    """A client frame as a JSON object with a string `type`, else None."""
    try:
        request = loads_strict(message)
    except (JSONInputError, TypeError):
        return None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        return None
    return request


class LiveHandler(
    ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    """`live`: the WebSocket of DESIGN.md; the JWT, not a Jupyter login, admits.

    `Origin` is checked as Jupyter's `allow_origin` and `allow_origin_pat`
    say: same-origin passes, a foreign origin gets 403 before the upgrade
    (and an audit line). As in Jupyter, a request that carries the Jupyter
    token itself skips the check. The tunables below are class attributes so
    a deployment or a test can change them.
    """

    flush_interval_s = 0.05
    max_backlog = 5_000
    backlog_frame_events = 500
    max_pending_bytes = 4 * 1024 * 1024
    max_pending_writes = 1_000
    max_subscriptions = 1_000
    session: LiveSession | None = None
    _header_token: str | None = None
    _url_has_token = False
    _protocol: _LiveProtocol | None = None

    @property
    def auth_timeout_s(self) -> float:
        """Seconds to authenticate before 4001 (`DagStudioApp.auth_timeout_s`)."""
        timeout = self.settings.get("dagstudio_auth_timeout_s", DEFAULT_AUTH_TIMEOUT_S)
        return float(timeout)

    @property
    def max_message_size(self) -> int:
        """Largest client frame; an auth message with an 8 KiB token fits."""
        return 64 * 1024

    def set_default_headers(self) -> None:
        """No page headers (CSP and the like) on a WebSocket upgrade."""

    def get_compression_options(self) -> dict[str, Any] | None:
        """No per-message compression."""
        return None

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Keep a credential in the query string out of Jupyter's request log."""
        self._url_has_token = _has_credential(self.request.query_arguments)
        if self._url_has_token:
            # jupyter_server logs the request URI and scrubs only some names
            # (`token`, `auth`, ...): `?jwt=<token>` would be written as is.
            self.request.uri = f"{self.request.path}?[credential removed]"
        result = super().prepare(*args, **kwargs)
        if inspect.isawaitable(result):
            await result

    @allow_unauthenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Upgrade without a Jupyter login; the JWT is checked after it."""
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str | None = None) -> bool:
        """Jupyter's origin rules; a refusal is audited and counted.

        Tornado asks only for requests that look cross-origin.
        """
        allowed = bool(super().check_origin(origin))
        if not allowed:
            reason = "origin"
            code, text = REFUSALS[reason]
            self.log.warning("live connection refused: %s", text)
            LIVE_AUTH_FAILURES.labels(reason=reason).inc()
            write_audit(
                "live_refused",
                self.request.remote_ip,
                reason=text,
                code=code,
                # Cut: an unauthenticated client picks this text and its length.
                origin=origin[:200] if origin else None,
            )
        return allowed

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        """Tornado's protocol, with the close code it sends kept for on_close."""
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            # `params` holds the settings tornado read from this handler.
            self._protocol = _LiveProtocol(self, False, protocol.params)
            return self._protocol
        return protocol

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Pick `dagstudio.v1`; keep a `bearer.<jwt>` offer, never echo it."""
        for offer in subprotocols:
            if offer.startswith(BEARER_PREFIX):
                self._header_token = offer[len(BEARER_PREFIX) :]
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start a session; it authenticates from the header or waits for auth."""
        super().open(*args, **kwargs)
        self.session = LiveSession(self)
        self.session.start(
            header_token=self._header_token, url_has_token=self._url_has_token
        )

    def on_message(self, message: str | bytes) -> None:
        """Hand the frame to the session."""
        if self.session is not None:
            self.session.receive(message)

    def on_close(self) -> None:
        """Always release the session's listener, timers and tasks."""
        if self.session is not None:
            sent = self._protocol.sent_close_code if self._protocol else None
            self.session.connection_closed(sent)
        if self.ping_callback is not None:
            self.ping_callback.stop()
