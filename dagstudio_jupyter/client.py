"""Python client of the DAG Studio REST API of a running Jupyter server."""

from __future__ import annotations

import builtins
import http.cookiejar
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._client_rerun import DerivedRuns, RerunCalls, attach_widget, run_options
from ._state import EXECUTION_TERMINAL
from .errors import ConflictError, DagStudioError, InvalidWorkflowError, NotFoundError

if TYPE_CHECKING:
    from .workflow import Workflow

log = logging.getLogger(__name__)

API = "dagstudio/api/"
URL_ENV = "DAGSTUDIO_SERVER_URL"
TOKEN_ENVS = ("DAGSTUDIO_TOKEN", "JUPYTER_TOKEN")
HOW_TO_CONNECT = (
    f"set {URL_ENV} and DAGSTUDIO_TOKEN (or JUPYTER_TOKEN), or pass "
    "Client(url, token) (on the command line: --url and --token-env VAR)"
)
NO_EXTENSION = (
    "the server at {url} has no DAG Studio extension; "
    "pip install dagstudio-jupyter and restart it"
)
# The server's page size limit; `list` asks for larger numbers page by page.
MAX_PAGE = 500
EXECUTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class ServerError(DagStudioError):
    """The server answered with an error: HTTP `status`, `error` code, `message`."""

    def __init__(
        self, status: int, error: str, message: str, *, method: str = "", path: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status} {self.error})"

    def __reduce__(self) -> Any:
        state = {"method": self.method, "path": self.path}
        return type(self), (self.status, self.error, self.message), state


class ServerNotFoundError(ServerError, NotFoundError):
    """404: the execution is unknown, or not visible to this user."""


class ServerConflictError(ServerError, ConflictError):
    """409: the request does not fit the execution's state."""


class ServerInvalidWorkflowError(ServerError, InvalidWorkflowError):
    """400 `invalid_workflow`: the server refused the workflow document."""


class NoExtensionError(ServerError):
    """The server is a Jupyter server without the DAG Studio extension."""


class ServerUnreachableError(DagStudioError, ConnectionError):
    """No answer from the server: refused, timed out, or a TLS failure."""


class WaitTimeoutError(DagStudioError, TimeoutError):
    """`wait` gave up before the execution finished."""


class Client(RerunCalls):
    """Talks to DAG Studio on a Jupyter server over its REST API.

    With no `url`, the server is found by `from_environment`. With a `url`
    and no `token`, the token comes from DAGSTUDIO_TOKEN, then JUPYTER_TOKEN,
    then the info file of a running server at that URL. The token travels in
    the `Authorization` header only; it is never put in a URL, a log line,
    `repr` or an error message.

    >>> client = Client("http://127.0.0.1:8888/", token)  # doctest: +SKIP
    >>> run = client.submit(workflow)                      # doctest: +SKIP
    >>> client.wait(run["id"])["status"]                   # doctest: +SKIP
    'completed'
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30
    ) -> None:
        if url is None:
            url, found_token = discover_server()
            token = token or found_token
        else:
            url, url_token = _split_url(url)
            token = token or url_token or _env_token() or _running_server_token(url)
        self.url = url
        self.timeout = timeout
        self._token = token or None
        self._api = urllib.parse.urljoin(url, API)
        host = urllib.parse.urlsplit(url).hostname or ""
        # A proxy from the environment must never see the token of a local server.
        proxies = urllib.request.ProxyHandler({} if host in LOOPBACK else None)
        # Jupyter's own identity provider names a token-authenticated caller by
        # the login cookie it sets on the first answer. Kept in memory only, it
        # keeps this client one user where the server owns runs per user.
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self._opener = urllib.request.build_opener(proxies, cookies, _NoRedirect())

    @classmethod
    def from_environment(cls, *, timeout: float = 30) -> Client:
        """Find the server: DAGSTUDIO_SERVER_URL, else this kernel's server.

        1. `DAGSTUDIO_SERVER_URL`, with DAGSTUDIO_TOKEN, else JUPYTER_TOKEN,
           else the token in the info file of a running server at that URL.
        2. The running-server info files in Jupyter's runtime directory: the
           server that started this process or one of its parents (a kernel's
           server), else the only running server; with DAGSTUDIO_TOKEN, else
           the token in that file, else JUPYTER_TOKEN.
        3. Otherwise `DagStudioError` saying how to pass the URL and token.

        The URL may hold a base URL (`http://host:8888/user/me/`).
        """
        return cls(None, timeout=timeout)

    def __repr__(self) -> str:
        auth = "token" if self._token else "no token"
        return f"<Client {self.url} ({auth})>"

    def submit(
        self, workflow: Workflow | Mapping[str, Any], **options: Any
    ) -> dict[str, Any]:
        """Start a run of `workflow` on the server; return the new execution.

        Options: `max_parallel`, `retry_backoff_s`, `cache` (let unchanged
        phases be skipped as `cached`) and `force` (phase ids that run anyway,
        or True for all).
        """
        doc = _workflow_document(workflow)
        body = {"workflow": doc, "options": run_options(options)}
        return self._object("POST", "executions", body=body)

    def get(self, execution_id: str) -> dict[str, Any]:
        """The execution with its workflow, phases and `last_seq`."""
        return self._object("GET", _path(execution_id))

    def list_page(
        self,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        *,
        q: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of execution summaries, newest first, and the next cursor.

        `q` keeps those whose name, id or owner holds it, ignoring case.
        """
        query = {"status": status, "limit": limit, "cursor": cursor, "q": q}
        page = self._object("GET", "executions", query=query)
        items: builtins.list[dict[str, Any]] = page["executions"]
        return items, page.get("next_cursor")

    def list(
        self, status: str | None = None, limit: int = 50, *, q: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The newest `limit` execution summaries (fewer if there are fewer).

        Follows the server's cursors when `limit` is over one page; use
        `iter_executions` to walk all of them lazily, or `list_page` for
        one page and its cursor. A summary has `name` and `progress` (phase
        counts by status, and `total`) instead of the workflow and phases.
        `q` filters as in `list_page`.
        """
        return builtins.list(self.iter_executions(status, limit=limit, q=q))

    def iter_executions(
        self,
        status: str | None = None,
        *,
        limit: int | None = None,
        page_size: int = 100,
        q: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Execution summaries, newest first, fetched one page at a time as needed.

        `q` filters as in `list_page`.
        """
        cursor: str | None = None
        left = limit
        while left is None or left > 0:
            size = min(page_size, MAX_PAGE, left if left is not None else MAX_PAGE)
            items, cursor = self.list_page(status, size, cursor, q=q)
            yield from items
            if left is not None:
                left -= len(items)
            if cursor is None or not items:
                return

    def events(
        self, execution_id: str, since: int = 0
    ) -> builtins.list[dict[str, Any]]:
        """Committed events of the execution with `seq` above `since`, in order."""
        path = _path(execution_id, "events")
        events: builtins.list[dict[str, Any]] = self._object(
            "GET", path, query={"since": since}
        )["events"]
        return events

    def cancel(self, execution_id: str) -> dict[str, Any]:
        """Cancel a running execution; return it. 409 when it already finished."""
        return self._object("POST", _path(execution_id, "cancel"))

    def retry(self, execution_id: str) -> dict[str, Any]:
        """Run the failed, cancelled and skipped phases again; return the execution.

        The same execution goes on. To wait for its new end, pass `wait` the
        `last_seq` it had before the retry as `since`.
        """
        return self._object("POST", _path(execution_id, "retry"))

    def delete(self, execution_id: str) -> None:
        """Forget a finished execution. 409 while it runs."""
        self._call("DELETE", _path(execution_id))

    def live_token(self) -> str:
        """A short-lived JWT for the live WebSocket channel."""
        return str(self._object("POST", "token")["token"])

    def wait(
        self,
        execution_id: str,
        timeout: float | None = None,
        poll_s: float = 0.5,
        *,
        since: int | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the events until the execution finishes; return the final execution.

        With `since`, events after that `seq` are followed (and handed to
        `on_event`) until one of them ends the execution, so a wait begun
        before a retry's first event is not fooled by the earlier end. With
        no `since`, an execution that has already finished is returned at once.
        Raises `WaitTimeoutError` after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if since is None:
            execution = self.get(execution_id)
            if execution["status"] in EXECUTION_TERMINAL:
                return execution
            since = int(execution["last_seq"])
        while True:
            events = self.events(execution_id, since)
            for event in events:
                since = max(since, int(event["seq"]))
                if on_event is not None:
                    on_event(event)
                ended = (
                    event.get("phase_id") is None
                    and event["status"] in EXECUTION_TERMINAL
                )
                if ended:
                    return self.get(execution_id)
            if events:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"execution {execution_id!r} had not finished after {timeout:g} s"
                )
            pause = (
                poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
            )
            time.sleep(max(pause, 0.0))

    def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        answer = self._call(method, path, **options)
        if not isinstance(answer, dict):
            raise ServerError(
                200,
                "bad_response",
                f"the server at {self.url} answered {method} {path} with "
                f"{type(answer).__name__}, not a JSON object",
                method=method,
                path=path,
            )
        return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        url = self._api + path
        pairs = {k: v for k, v in (query or {}).items() if v is not None}
        if pairs:
            url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"token {self._token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            data = b""
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        log.debug("%s %s", method, path)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                text = exc.read()
            raise self._error(exc.code, text, method, path, exc.headers) from None
        except TimeoutError:
            raise ServerUnreachableError(
                f"the server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachableError(
                f"cannot reach the Jupyter server at {self.url} ({exc.reason}); "
                "is it running?"
            ) from None
        except OSError as exc:
            raise ServerUnreachableError(
                f"cannot reach the Jupyter server at {self.url} ({exc}); is it running?"
            ) from None
        if status == 204 or not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ServerError(
                status,
                "bad_response",
                f"the server at {self.url} answered {method} {path} with something "
                "that is not JSON",
                method=method,
                path=path,
            ) from None

    def _error(
        self, status: int, text: bytes, method: str, path: str, headers: Any
    ) -> ServerError:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        ours = isinstance(body, dict) and "error" in body
        if status == 404 and not ours:
            return NoExtensionError(
                404,
                "no_extension",
                NO_EXTENSION.format(url=self.url),
                method=method,
                path=path,
            )
        if 300 <= status < 400:
            where = headers.get("Location", "elsewhere") if headers else "elsewhere"
            return ServerError(
                status,
                "redirect",
                f"the server at {self.url} redirects to {where}; use that URL",
                method=method,
                path=path,
            )
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
        code = str(body["error"]) if ours else _CODES.get(status, "error")
        message = (
            message
            or f"the server at {self.url} answered {method} {path} with HTTP {status}"
        )
        if status in (401, 403):
            message += (
                f"; the server at {self.url} did not accept the token "
                "(check DAGSTUDIO_TOKEN, JUPYTER_TOKEN or --token-env)"
            )
        kind = ServerError
        if status == 404:
            kind = ServerNotFoundError
        elif status == 409:
            kind = ServerConflictError
        elif status == 400 and code == "invalid_workflow":
            kind = ServerInvalidWorkflowError
        return kind(status, code, message, method=method, path=path)


_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}


class ServerRun(DerivedRuns):
    """One execution running on the server, as `Workflow.submit` returns it.

    `execution` is the document as last fetched; `refresh()` (and `status`)
    ask the server again. `rerun` and `resume` start a new execution derived
    from this finished one.
    """

    def __init__(
        self,
        client: Client,
        execution: Mapping[str, Any] | str,
        *,
        from_start: bool = False,
    ) -> None:
        self.client = client
        #: The widget attached to follow this run, if any.
        self.widget: Any = None
        #: The run this one was derived from by `rerun` or `resume` here.
        self.source: ServerRun | None = None
        if isinstance(execution, str):
            execution = client.get(execution)
            # Already under way or finished: `wait` looks at its current state.
            self._since: int | None = None
        else:
            # `from_start`: a new execution whose answer may hold its first events.
            self._since = 0 if from_start else int(execution.get("last_seq", 0))
        self.id: str = execution["id"]
        self._execution = dict(execution)

    def __repr__(self) -> str:
        workflow = self._execution.get("workflow", {}).get("id", "?")
        error = self._execution.get("error")
        tail = f", error={error!r}" if error else ""
        return (
            f"<ServerRun {workflow!r} {self.id[:8]} {self._execution.get('status')}"
            f"{tail} on {self.client.url}>"
        )

    @property
    def execution(self) -> dict[str, Any]:
        """The execution document as last fetched."""
        return self._execution

    def refresh(self) -> dict[str, Any]:
        """Fetch the execution again and return it."""
        self._execution = self.client.get(self.id)
        return self._execution

    @property
    def status(self) -> str:
        """The current status, asked of the server."""
        return str(self.refresh()["status"])

    @property
    def error(self) -> str | None:
        """Why the execution failed or was cancelled (as last fetched)."""
        return self._execution.get("error")

    @property
    def phases(self) -> dict[str, dict[str, Any]]:
        """Each phase's status, attempt, times and error (as last fetched)."""
        return {p["id"]: dict(p) for p in self._execution.get("phases", [])}

    @property
    def derived_from(self) -> dict[str, Any] | None:
        """`{"execution_id", "mode", "phase_id"}` of the source, or None."""
        return self._execution.get("derived_from")

    @property
    def done(self) -> bool:
        """True once the execution was last seen finished."""
        return self._execution.get("status") in EXECUTION_TERMINAL

    def events(self, since: int = 0) -> builtins.list[dict[str, Any]]:
        """Committed events after `since`, in order."""
        return self.client.events(self.id, since)

    def wait(self, timeout: float | None = None, poll_s: float = 0.5) -> ServerRun:
        """Block until the execution finishes (or `WaitTimeoutError`); return self."""
        self._execution = self.client.wait(
            self.id, timeout=timeout, poll_s=poll_s, since=self._since
        )
        self._since = None
        return self

    def cancel(self) -> ServerRun:
        """Cancel the execution; return self."""
        self._execution = self.client.cancel(self.id)
        self._since = None
        return self

    def retry(self) -> ServerRun:
        """Run the failed, cancelled and skipped phases again; return self."""
        # Retry is only allowed once the execution has ended, so its last seq
        # now is that end; `wait` then looks for the next end only.
        ended_at = int(self.client.get(self.id)["last_seq"])
        self._execution = self.client.retry(self.id)
        self._since = ended_at
        return self


def submit_workflow(
    workflow: Workflow,
    client: Client | None = None,
    *,
    widget: Any = None,
    **options: Any,
) -> ServerRun:
    """Submit `workflow` and return its `ServerRun`; let `widget` follow it."""
    client = client if client is not None else Client()
    run = ServerRun(client, client.submit(workflow, **options))
    attach_widget(run, widget)
    return run


def discover_server() -> tuple[str, str | None]:
    """Return the URL and token of the server to use; see `Client.from_environment`."""
    url = os.environ.get(URL_ENV)
    if url:
        url, url_token = _split_url(url)
        return url, url_token or _env_token() or _running_server_token(url)
    servers = [s for s in _running_servers() if s.get("url") and not s.get("sock")]
    chosen = None
    by_pid = {s.get("pid"): s for s in servers}
    for pid in _ancestor_pids():
        if pid in by_pid:
            chosen = by_pid[pid]
            break
    if chosen is None and len(servers) == 1:
        chosen = servers[0]
    if chosen is None and servers:
        urls = ", ".join(sorted(str(s["url"]) for s in servers))
        raise DagStudioError(
            f"several Jupyter servers are running ({urls}); to choose one, "
            + HOW_TO_CONNECT
        )
    if chosen is None:
        raise DagStudioError(f"no running Jupyter server was found; {HOW_TO_CONNECT}")
    url, _ = _split_url(str(chosen["url"]))
    token = os.environ.get(TOKEN_ENVS[0]) or chosen.get("token") or _env_token()
    return url, token or None


def _running_servers() -> builtins.list[dict[str, Any]]:
    """The info files of running Jupyter servers, as `list_running_servers` reads.

    Read here on POSIX because importing `jupyter_server.serverapp` takes
    seconds, too long for every `dagstudio` command; files of servers that
    are gone are skipped (not deleted).
    """
    if sys.platform == "win32":
        from jupyter_server.serverapp import list_running_servers

        return builtins.list(list_running_servers())
    from jupyter_core.paths import jupyter_runtime_dir

    servers = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written, or unreadable
        if isinstance(info, dict) and _alive(info.get("pid")):
            servers.append(info)
    return servers


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _running_server_token(url: str) -> str | None:
    """The token in the info file of a running server at `url`, if any."""
    key = _url_key(url)
    for server in _running_servers():
        if server.get("url") and _url_key(str(server["url"])) == key:
            return server.get("token") or None
    return None


def _ancestor_pids() -> builtins.list[int]:
    """The process that started this one (a kernel's server) first, then its elders."""
    pids: builtins.list[int] = []
    parent = os.environ.get("JPY_PARENT_PID", "")
    # On Windows JPY_PARENT_PID holds a process handle, not a pid.
    if parent.isdigit() and sys.platform != "win32":
        pids.append(int(parent))
    pid = os.getppid()
    for _ in range(8):
        if pid <= 1:
            break
        pids.append(pid)
        pid = _parent_of(pid)
    return pids


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            # The command name may hold spaces and ')'; the ppid follows the last ')'.
            return int(stat.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _env_token() -> str | None:
    for name in TOKEN_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _split_url(url: str) -> tuple[str, str | None]:
    """Normalize a server URL (scheme, trailing slash); lift a `?token=` out of it."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise DagStudioError(
            "the server URL holds a user name or password; pass the token as the "
            "token instead (DAGSTUDIO_TOKEN, or --token-env VAR)"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DagStudioError(
            f"not a server URL: {parts.scheme}://{parts.netloc}{parts.path}; expected "
            "something like http://127.0.0.1:8888/"
        )
    token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), token


def _url_key(url: str) -> tuple[str, str, int | None, str]:
    parts = urllib.parse.urlsplit(_split_url(url)[0])
    host = parts.hostname or ""
    host = "loopback" if host in LOOPBACK else host
    return parts.scheme, host, parts.port, parts.path


def _path(execution_id: str, *rest: str) -> str:
    # Checked here: the server's routes do not match other ids, and its answer
    # (a plain 404 page) would read as a missing extension.
    if not isinstance(execution_id, str) or not EXECUTION_ID.match(execution_id):
        raise NotFoundError(
            f"execution {execution_id!r} not found: ids are 1 to 64 letters, "
            "digits, '-' or '_'"
        )
    return "/".join(["executions", execution_id, *rest])


def _workflow_document(workflow: Workflow | Mapping[str, Any]) -> dict[str, Any]:
    from .workflow import Workflow

    if not isinstance(workflow, Workflow):
        if not isinstance(workflow, Mapping):
            raise InvalidWorkflowError(
                f"submit takes a Workflow or a workflow document, got "
                f"{type(workflow).__name__}"
            )
        return dict(workflow)
    local = [p.id for p in workflow.phases.values() if p.func is not None and not p.ref]
    if local:
        raise InvalidWorkflowError(
            f"phase {local[0]!r} runs a function defined in this process, which the "
            "server cannot import; give it a ref 'package.module:function' or run "
            "it here with run() or start()"
        )
    return workflow.validate().to_dict()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: they could carry the Authorization header to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
