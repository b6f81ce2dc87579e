"""REST handlers under `{base_url}dagstudio/api/`: thin, JSON in and out."""

from __future__ import annotations

import json
import reprlib
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from .._json import JSONInputError, loads_strict, short_repr
from .._state import EXECUTION_STATUSES
from ..errors import (
    ConflictError,
    DagStudioError,
    InvalidWorkflowError,
    NotFoundError,
    StoreError,
)
from .manager import BadRequestError, ExecutionManager, StoreUnavailableError

ID = r"(?P<execution_id>[A-Za-z0-9_-]{1,64})"
OPENAPI = Path(__file__).with_name("openapi.json")
MAX_QUERY_TEXT = 200  # characters of the list's `q` filter
# Domain errors and what a client sees: (HTTP status, error code).
HTTP_ERRORS: list[tuple[type[Exception], int, str]] = [
    (InvalidWorkflowError, 400, "invalid_workflow"),
    (BadRequestError, 400, "bad_request"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (StoreUnavailableError, 503, "store_unavailable"),
    # A store that cannot write now (a full disk, say): the message names why.
    (StoreError, 503, "store_unavailable"),
]


class DagHandler(ExtensionHandlerMixin, APIHandler):
    """Base of our REST handlers: identity, JSON bodies and the one error mapping."""

    auth_resource = "dagstudio"

    @property
    def manager(self) -> ExecutionManager:
        return self.settings["dagstudio_manager"]  # type: ignore[no-any-return]

    @property
    def user_name(self) -> str:
        return str(self.settings["dagstudio_owner"](self.current_user))

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 4xx naming what is wrong."""
        limit = self.settings["dagstudio_max_body_bytes"]
        if len(self.request.body) > limit:
            raise web.HTTPError(413, f"request body is over {limit} bytes")
        try:
            body = loads_strict(self.request.body or b"{}")
        except JSONInputError as exc:
            raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequestError("request body must be a JSON object")
        return body

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequestError(
                f"query argument {name!r} must be a whole number"
            ) from None
        if not low <= value <= high:
            raise BadRequestError(f"query argument {name!r} must be {low} to {high}")
        return value

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this handler answers, for the `Allow` header of a 405."""
        return [
            method
            for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower(), None)
            is not getattr(web.RequestHandler, method.lower(), None)
        ]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, DagStudioError):
            self.log.warning(
                "DAG Studio refused %s %s: %s",
                self.request.method,
                self.request.path,
                value,
            )
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as `{"error": code, "message": text}`; no traceback."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        code, message = "internal", "internal server error; see the server log"
        for kind, status, name in HTTP_ERRORS:
            if isinstance(exc, kind):
                status_code, code, message = status, name, str(exc)
                break
        else:
            if isinstance(exc, web.HTTPError):
                code = _HTTP_CODES.get(exc.status_code, "error")
                # tornado doubles each % of a message given without arguments.
                text = exc.log_message % exc.args if exc.log_message else None
                message = text or exc.reason or self._reason
            elif status_code < 500:
                code, message = _HTTP_CODES.get(status_code, "error"), self._reason
        if status_code == 405:
            # RFC 9110: a 405 names the methods the resource does support.
            self.set_header("Allow", ", ".join(self.allowed_methods()))
            message = (
                f"{self.request.method} is not allowed here; "
                f"use {', '.join(self.allowed_methods())}"
            )
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": code, "message": message}))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    501: "not_implemented",
}


def refuse_nul_paths(workflow: Any) -> None:
    """Refuse a phase `path` or `cwd` holding a NUL, which no file name can.

    Checked here, before the paths are resolved against the server's root,
    where a NUL would raise an unexpected error. Other shapes are left to the
    workflow's own validation.
    """
    phases = workflow.get("phases") if isinstance(workflow, dict) else None
    for phase in phases if isinstance(phases, list) else []:
        if not isinstance(phase, dict):
            continue
        for field in ("path", "cwd"):
            value = phase.get(field)
            if isinstance(value, str) and "\x00" in value:
                raise InvalidWorkflowError(
                    f"phase {reprlib.repr(phase.get('id'))}: {field} "
                    f"{reprlib.repr(value)} holds a NUL character"
                )


class ExecutionsHandler(DagHandler):
    """`executions`: list the user's executions, or start one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = self.get_query_argument("status", None)
        if status is not None and status not in EXECUTION_STATUSES:
            expected = sorted(EXECUTION_STATUSES)
            raise BadRequestError(
                f"unknown status {short_repr(status)}; expected one of {expected}"
            )
        q = self.get_query_argument("q", None)
        if q is not None and len(q) > MAX_QUERY_TEXT:
            raise BadRequestError(
                f"query argument 'q' must be at most {MAX_QUERY_TEXT} characters"
            )
        limit = self.int_argument("limit", 50, 1, 500)
        # Checked before the owner, so a bad argument is a 400 whoever is asked for.
        owner = self.get_query_argument("owner", None)
        if owner is not None and owner != self.user_name:
            # Only one's own executions are visible; another owner lists nothing.
            # Known limitation: a bad cursor goes unnoticed here, as it is only
            # read by the store.
            self.finish({"executions": [], "next_cursor": None})
            return
        executions, next_cursor = await self.manager.list_executions(
            self.user_name,
            status=status,
            limit=limit,
            cursor=self.get_query_argument("cursor", None),
            q=q,
        )
        self.finish({"executions": executions, "next_cursor": next_cursor})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - {"workflow", "options"})
        if "workflow" not in body or unknown:
            raise BadRequestError(
                'body must be {"workflow": {...}, "options": {...}}'
                + (f"; unknown field(s) {short_repr(unknown)}" if unknown else "")
            )
        refuse_nul_paths(body["workflow"])
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            raise BadRequestError(
                f"'options' must be a JSON object, got {type(options).__name__}"
            )
        # An option given as null takes its default, as one left out does.
        options = {k: v for k, v in (options or {}).items() if v is not None}
        execution = await self.manager.submit(body["workflow"], self.user_name, options)
        self.set_status(201)
        self.set_header(
            "Location",
            url_path_join(self.base_url, "dagstudio/api/executions", execution["id"]),
        )
        self.finish(execution)


class ExecutionHandler(DagHandler):
    """`executions/{id}`: one execution with its phases and last seq; delete it."""

    @web.authenticated
    @authorized
    async def get(self, execution_id: str) -> None:
        self.finish(await self.manager.get(execution_id, self.user_name))

    @web.authenticated
    @authorized
    async def delete(self, execution_id: str) -> None:
        await self.manager.delete(execution_id, self.user_name)
        self.set_status(204)
        self.finish()


class EventsHandler(DagHandler):
    """`executions/{id}/events?since=N`: committed events after seq N, in order."""

    @web.authenticated
    @authorized
    async def get(self, execution_id: str) -> None:
        since = self.int_argument("since", 0, 0, 2**62)
        limit = self.int_argument("limit", 10_000, 1, 100_000)
        events = await self.manager.events(
            execution_id, self.user_name, since=since, limit=limit
        )
        if events:
            last_seq = events[-1]["seq"]
        else:
            # The execution's own last seq, never the client's `since` echoed.
            execution = await self.manager.get(execution_id, self.user_name)
            last_seq = execution["last_seq"]
        self.finish({"events": events, "last_seq": last_seq})


class CancelHandler(DagHandler):
    """`executions/{id}/cancel`."""

    @web.authenticated
    @authorized
    async def post(self, execution_id: str) -> None:
        execution = await self.manager.cancel(execution_id, self.user_name)
        self.set_status(202)
        self.finish(execution)


class RetryHandler(DagHandler):
    """`executions/{id}/retry`: run the failed and cancelled part again."""

    @web.authenticated
    @authorized
    async def post(self, execution_id: str) -> None:
        execution = await self.manager.retry(execution_id, self.user_name)
        self.set_status(202)
        self.finish(execution)


class RerunHandler(DagHandler):
    """`executions/{id}/rerun`: a new execution running part of this one again."""

    @web.authenticated
    @authorized
    async def post(self, execution_id: str) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - {"mode", "phase_id", "options"})
        if unknown or "mode" not in body:
            raise BadRequestError(
                'body must be {"mode": "phase" | "downstream" | "resume",'
                ' "phase_id": ..., "options": {...}}'
                + (f"; unknown field(s) {short_repr(unknown)}" if unknown else "")
            )
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            raise BadRequestError(
                f"'options' must be a JSON object, got {type(options).__name__}"
            )
        options = {k: v for k, v in (options or {}).items() if v is not None}
        execution = await self.manager.rerun(
            execution_id, self.user_name, body["mode"], body.get("phase_id"), options
        )
        self.set_status(201)
        self.set_header(
            "Location",
            url_path_join(self.base_url, "dagstudio/api/executions", execution["id"]),
        )
        self.finish(execution)


class TokenHandler(DagHandler):
    """`token`: a short-lived JWT for the live channel, for the signed-in user."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.manager.check_available()
        try:
            token = self.settings["dagstudio_tokens"].issue(self.user_name)
        except RuntimeError as exc:
            # Only HS256 tokens are minted here; RS256/ES256 ones come from elsewhere.
            raise web.HTTPError(501, str(exc)) from exc
        self.finish(token)


class UnknownRouteHandler(DagHandler):
    """Anything else under `dagstudio/api/`: a JSON 404, not Jupyter's HTML page."""

    @web.authenticated
    async def get(self) -> None:
        raise web.HTTPError(
            404, f"no such route: {self.request.method} {self.request.path}"
        )

    post = put = patch = delete = get


class OpenAPIHandler(DagHandler):
    """`openapi.json`: the document describing this API."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(OPENAPI.read_bytes())


ROUTES: list[tuple[str, type[DagHandler]]] = [
    ("executions", ExecutionsHandler),
    (f"executions/{ID}", ExecutionHandler),
    (f"executions/{ID}/events", EventsHandler),
    (f"executions/{ID}/cancel", CancelHandler),
    (f"executions/{ID}/retry", RetryHandler),
    (f"executions/{ID}/rerun", RerunHandler),
    ("token", TokenHandler),
    ("openapi.json", OpenAPIHandler),
]
