"""The REST API fuzzed against its OpenAPI document on a live `jupyter server`.

schemathesis draws requests from `server/openapi.json`, schema-valid ones and
ones that break it, and sends them with the Jupyter token to a real server
subprocess on 127.0.0.1. Every answer must match the document: no 5xx; status
code, content type, body and headers (`Location` on 201, `Allow` on 405) as
documented; a request that breaks the schema refused with a 4xx; a schema-valid
one accepted unless it breaks a rule the document states in words only (unique
phase ids, known dependencies, no cycle, paths inside the root, an opaque
cursor). Linked calls follow the document's links (start an execution, then
get, cancel, retry or delete the one the answer names); hand-made hostile
bodies cover what a generator rarely draws; the server's log is scanned last.

Generation is derandomized, so each run repeats the one before it. The default
run is short: DAGSTUDIO_FUZZ_EXAMPLES (25) generated requests per operation,
besides schemathesis's boundary cases. DAGSTUDIO_FULL_FUZZ=1 draws 300 per
operation and runs longer linked scenarios; DAGSTUDIO_FUZZ_RANDOM=1 draws new
examples on each run instead of the same ones.

Generated workflows are made harmless before they are sent: shell commands
become `true`, python refs name a module that does not exist, and retries are
capped at 2, so no drawn program runs and no run spins on retries.
"""

from __future__ import annotations

import copy
import http.cookiejar
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from dagstudio_jupyter.server.handlers import OPENAPI

from ._server import API, DagServer, running_server

FULL = os.environ.get("DAGSTUDIO_FULL_FUZZ") == "1"
EXAMPLES = 300 if FULL else int(os.environ.get("DAGSTUDIO_FUZZ_EXAMPLES", "25"))
LINKED_SCENARIOS, LINKED_STEPS = (60, 12) if FULL else (8, 6)
DOCUMENT = json.loads(OPENAPI.read_text(encoding="utf-8"))
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "mode": "all",
            # The token goes with every request: a drawn Authorization header
            # would only be refused before any handler of ours is reached.
            "with-security-parameters": False,
            # Unknown query arguments are ignored, as HTTP APIs commonly do.
            "allow-extra-parameters": False,
        },
        "checks": {
            # Replaced by `check_valid_request_accepted`, which knows the rules
            # the document states in words.
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {
                "expected-statuses": ["400", "403", "404", "405", "409", "413"]
            },
        },
    }
)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    # DAGSTUDIO_FUZZ_RANDOM=1 draws new examples each run, to hunt for bugs.
    derandomize=os.environ.get("DAGSTUDIO_FUZZ_RANDOM") != "1",
    database=None,
    deadline=None,
    # Every request goes over HTTP to a server that may be running phases.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Rules the document states in words only, which a schema-valid request may break.
STATED_IN_WORDS = re.compile(
    r"duplicate phase id|depends on unknown phase|depends on itself|has a cycle"
    r"|outside the server's root|invalid cursor"
    r"|memory_limit_mb applies to shell and script phases only"
    r"|env names must be non-empty strings with no '=' or NUL"
    r"|force names unknown phase|phase_id must name a phase of the workflow"
    r"|needs upstream phase|needs the result of upstream phase"
    r"|resume takes no phase_id"
)
# The server's own check of a python ref (Unicode identifiers, as Python's).
PYTHON_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)
SERVER_ERROR_LINE = re.compile(r"\] 5\d\d [A-Z]+ /", re.MULTILINE)


@dataclass(repr=False)
class FuzzClient:
    """Requests to the fuzzed server: the token in a header, no cookie, no proxy."""

    server: DagServer
    session: requests.Session

    def __repr__(self) -> str:
        # Shown by pytest in failure reports: never with the token.
        return f"<FuzzClient {self.base_url}>"

    @property
    def base_url(self) -> str:
        return self.server.url + API

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.server.token}"}

    def call_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "session": self.session,
            "headers": self.headers,
        }

    def send(self, case: schemathesis.Case) -> schemathesis.Response:
        return case.call(**self.call_kwargs(), timeout=30)

    def check(
        self, case: schemathesis.Case, response: Any, checks: list[Any] | None = None
    ) -> None:
        """Check `response` against the document; raise naming every mismatch."""
        case.validate_response(
            response,
            checks=checks,
            headers=self.headers,
            transport_kwargs=self.call_kwargs(),
        )

    def request(
        self, method: str, path: str, *, data: bytes | None = None, **options: Any
    ) -> requests.Response:
        """A hand-made request to `<api>/<path>`."""
        return self.session.request(
            method,
            f"{self.base_url}/{path}",
            data=data,
            headers={**self.headers, "Content-Type": "application/json"},
            timeout=30,
            **options,
        )


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagServer]:
    home = tmp_path_factory.mktemp("api-fuzz")
    with running_server(
        home / "home", root_dir=home / "root", store_path=home / "store.duckdb"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_client(fuzz_server: DagServer) -> Iterator[FuzzClient]:
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy is set
    # No login cookie: each request stands on its token alone, so schemathesis's
    # probes without the token are refused, as they must be.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    with session:
        yield FuzzClient(fuzz_server, session)


def make_harmless(case: schemathesis.Case) -> None:
    """Keep a drawn workflow from running anything real; its validity is kept."""
    if case.operation.label != "POST /executions" or not isinstance(case.body, dict):
        return
    body = copy.deepcopy(case.body)
    workflow = body.get("workflow")
    phases = workflow.get("phases") if isinstance(workflow, dict) else None
    for phase in phases if isinstance(phases, list) else []:
        if not isinstance(phase, dict):
            continue
        command = phase.get("command")
        if isinstance(command, str) and command.strip():
            phase["command"] = "true"
        elif (
            isinstance(command, list)
            and command
            and all(isinstance(part, str) for part in command)
        ):
            phase["command"] = ["true"]
        ref = phase.get("ref")
        if isinstance(ref, str) and PYTHON_REF.match(ref):
            phase["ref"] = "dagstudio_fuzz_absent_module:run"
        retries = phase.get("retries")
        if type(retries) is int and retries > 2:
            phase["retries"] = 2
    # Assigned anew so that schemathesis sees the change and judges the body
    # as sent, valid or not.
    case.body = body


def drop_unknown_dependencies(case: schemathesis.Case) -> None:
    """Keep the first phase of each id and only dependencies on known phases.

    Drawn phase lists mostly name dependencies that do not exist; linked
    scenarios need executions that start, so that their links have ids.
    """
    body = case.body
    workflow = body.get("workflow") if isinstance(body, dict) else None
    phases = workflow.get("phases") if isinstance(workflow, dict) else None
    if case.operation.label != "POST /executions" or not isinstance(phases, list):
        return
    if not all(isinstance(p, dict) and isinstance(p.get("id"), str) for p in phases):
        return
    kept: dict[str, dict[str, Any]] = {}
    for phase in phases:
        kept.setdefault(phase["id"], copy.deepcopy(phase))
    for phase in kept.values():
        if isinstance(phase.get("after"), list):
            phase["after"] = [dep for dep in phase["after"] if dep in kept]
    case.body = {**body, "workflow": {**workflow, "phases": list(kept.values())}}


def check_valid_request_accepted(case: schemathesis.Case, response: Any) -> None:
    """A schema-valid request is served, unless it breaks a rule stated in words."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    by_id = "{execution_id}" in case.operation.path
    if status < 300 or (by_id and status == 404):  # drawn ids name nothing
        return
    body = response.json()
    if status == 409 and case.method in ("POST", "DELETE") and by_id:
        return  # a finished one cancelled, an unfinished one retried or deleted
    if status == 400 and STATED_IN_WORDS.search(body.get("message", "")):
        return
    raise AssertionError(
        f"schema-valid request refused: {case.method} {case.formatted_path} "
        f"query={case.query} body={case.body!r:.500} -> {status} {body}"
    )


def header(response: Any, name: str) -> str | None:
    """A header of a schemathesis or a requests response."""
    if isinstance(response, schemathesis.Response):
        values = response.headers.get(name.lower())
        return values[0] if values else None
    return response.headers.get(name)


def check_error_body(response: Any) -> None:
    """Every error is JSON `{error, message}` with both filled in."""
    if response.status_code < 400:
        return
    assert (header(response, "Content-Type") or "").startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body


def check_location(response: Any) -> None:
    """A 201 names the new execution's URL."""
    if response.status_code != 201:
        return
    assert header(response, "Location") == f"/{API}/executions/{response.json()['id']}"


def test_api_fuzz_server_serves_the_document_it_is_fuzzed_against(
    fuzz_client: FuzzClient,
) -> None:
    response = fuzz_client.request("GET", "openapi.json")

    assert response.status_code == 200
    assert response.json() == DOCUMENT


@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_api_fuzz_operation_answers_as_documented(
    case: schemathesis.Case, fuzz_client: FuzzClient
) -> None:
    make_harmless(case)

    response = fuzz_client.send(case)

    fuzz_client.check(case, response)
    check_valid_request_accepted(case, response)
    check_error_body(response)
    check_location(response)


def test_api_fuzz_linked_calls_answer_as_documented(fuzz_client: FuzzClient) -> None:
    """Scenarios along the document's links: start, then get, cancel, retry, delete."""
    client = fuzz_client

    class LinkedCalls(SCHEMA.as_state_machine()):
        def before_call(self, case: schemathesis.Case) -> None:
            drop_unknown_dependencies(case)
            make_harmless(case)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {**client.call_kwargs(), "timeout": 30}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case,
            additional_checks: list[Any] | None = None,
            **kwargs: Any,
        ) -> None:
            super().validate_response(response, case, additional_checks, **kwargs)
            check_valid_request_accepted(case, response)
            check_error_body(response)
            check_location(response)

    LinkedCalls.run(
        settings=settings(
            FUZZ_SETTINGS,
            max_examples=LINKED_SCENARIOS,
            stateful_step_count=LINKED_STEPS,
        )
    )


CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def documented_call(
    client: FuzzClient,
    method: str,
    path: str,
    *,
    execution_id: str | None = None,
    query: dict[str, Any] | None = None,
    body: Any = None,
) -> Any:
    """Make one call of a documented operation and check its answer against it."""
    options: dict[str, Any] = {"query": query}
    if execution_id is not None:
        options["path_parameters"] = {"execution_id": execution_id}
    if body is not None:
        options.update(body=body, media_type="application/json")
    case = SCHEMA[path][method].Case(**options)
    response = client.send(case)
    client.check(case, response, checks=CONFORMANCE)
    check_error_body(response)
    check_location(response)
    return response


def test_api_fuzz_execution_lifecycle_follows_its_links(
    fuzz_client: FuzzClient,
) -> None:
    """Start, read, cancel, retry and delete an execution by the id answers name."""
    workflow = {
        "id": "lifecycle",
        "phases": [
            {"id": "wait", "kind": "shell", "command": ["sleep", "60"]},
            {"id": "then", "after": ["wait"]},
        ],
    }
    one = "/executions/{execution_id}"

    started = documented_call(
        fuzz_client, "POST", "/executions", body={"workflow": workflow}
    )
    run = started.json()["id"]
    read = documented_call(fuzz_client, "GET", one, execution_id=run)
    early_delete = documented_call(fuzz_client, "DELETE", one, execution_id=run)
    cancelled = documented_call(fuzz_client, "POST", one + "/cancel", execution_id=run)
    cancelled_again = documented_call(
        fuzz_client, "POST", one + "/cancel", execution_id=run
    )
    events = documented_call(fuzz_client, "GET", one + "/events", execution_id=run)
    since = events.json()["last_seq"]
    retried = documented_call(fuzz_client, "POST", one + "/retry", execution_id=run)
    retried_delete = documented_call(fuzz_client, "DELETE", one, execution_id=run)
    documented_call(fuzz_client, "POST", one + "/cancel", execution_id=run)
    newer = documented_call(
        fuzz_client, "GET", one + "/events", execution_id=run, query={"since": since}
    )
    deleted = documented_call(fuzz_client, "DELETE", one, execution_id=run)
    after_delete = {
        (method, path): documented_call(fuzz_client, method, path, execution_id=run)
        for method, path in [
            ("GET", one),
            ("GET", one + "/events"),
            ("POST", one + "/cancel"),
            ("POST", one + "/retry"),
            ("DELETE", one),
        ]
    }

    assert started.status_code == 201
    assert read.status_code == 200
    assert [p["id"] for p in read.json()["phases"]] == ["wait", "then"]
    assert early_delete.status_code == 409
    assert "running" in early_delete.json()["message"]
    assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
    assert cancelled_again.status_code == 409
    assert "cancelled" in cancelled_again.json()["message"]
    seqs = [event["seq"] for event in events.json()["events"]]
    assert seqs == list(range(1, since + 1))
    assert retried.status_code == 202
    assert retried.json()["status"] in ("pending", "running")
    assert retried_delete.status_code == 409
    assert newer.json()["events"]
    assert all(event["seq"] > since for event in newer.json()["events"])
    assert (deleted.status_code, deleted.content) == (204, b"")
    for response in after_delete.values():
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert run in response.json()["message"]


def test_api_fuzz_list_pages_follow_next_cursor(fuzz_client: FuzzClient) -> None:
    """Each page's `next_cursor` leads to the next, newest first, none twice."""
    name = "paging-check"
    workflow = {"id": name, "phases": [{"id": "only"}]}
    created = [
        documented_call(
            fuzz_client, "POST", "/executions", body={"workflow": workflow}
        ).json()["id"]
        for _ in range(5)
    ]

    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while len(pages) < 10:
        query = {"q": name, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = documented_call(fuzz_client, "GET", "/executions", query=query).json()
        pages.append(page["executions"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    listed = [item["id"] for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert listed == created[::-1]


def start_body(*phases: dict[str, Any], **fields: Any) -> bytes:
    """A POST executions body of a workflow named `hostile` with these phases."""
    body = {"workflow": {"id": "hostile", "phases": list(phases)}, **fields}
    return json.dumps(body).encode()


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


# (case, body, status, error code, what the message must name)
HOSTILE_BODIES = [
    (
        "over the size limit",
        start_body({"id": "a", "label": "x" * (1024 * 1024)}),
        413,
        "payload_too_large",
        "over 1048576 bytes",
    ),
    (
        "100k nested arrays",
        b'{"workflow": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "bad_request",
        "nested too deeply",
    ),
    (
        "5000 nested objects in params",
        b'{"workflow": {"id": "hostile", "phases": [{"id": "a", "params": '
        + nested(5000)
        + b"}]}}",
        400,
        "bad_request",
        "nested too deeply",
    ),
    (
        "NaN",
        start_body({"id": "a", "timeout_s": 1}).replace(b"1}", b"NaN}"),
        400,
        "bad_request",
        "NaN",
    ),
    (
        "-Infinity",
        start_body({"id": "a", "timeout_s": 1}).replace(b"1}", b"-Infinity}"),
        400,
        "bad_request",
        "Infinity",
    ),
    (
        "a number past float range",
        start_body({"id": "a", "timeout_s": 1}).replace(b"1}", b"1e999}"),
        400,
        None,
        "1e999",
    ),
    (
        "an integer of 5000 digits",
        start_body({"id": "a", "retries": 1}).replace(b"1}", b"9" * 5000 + b"}"),
        400,
        None,
        "digits",
    ),
    ("not JSON", b'{"workflow": ', 400, "bad_request", "not valid JSON"),
    ("invalid UTF-8", b'{"workflow": "\xff\xfe"}', 400, "bad_request", "utf-8"),
    ("an empty body", b"", 400, "bad_request", '{"workflow": {...}'),
    ("a JSON array", b"[]", 400, "bad_request", "must be a JSON object"),
    (
        "a lone surrogate",
        start_body({"id": "a", "label": "x"}).replace(b'"x"', b'"\\ud800"'),
        400,
        "invalid_workflow",
        "Unicode",
    ),
    (
        "an unknown field",
        start_body({"id": "a"}, colour="red"),
        400,
        "bad_request",
        "'colour'",
    ),
    (
        "an unknown workflow field",
        b'{"workflow": {"phases": [{"id": "a"}], "colour": "red"}}',
        400,
        "invalid_workflow",
        "'colour'",
    ),
    (
        "an unknown phase field",
        start_body({"id": "a", "colour": "red"}),
        400,
        "invalid_workflow",
        "'colour'",
    ),
    (
        "workflow of the wrong type",
        b'{"workflow": []}',
        400,
        "invalid_workflow",
        "list",
    ),
    (
        "phases of the wrong type",
        b'{"workflow": {"phases": {}}}',
        400,
        "invalid_workflow",
        "'phases'",
    ),
    ("no phases", start_body(), 400, "invalid_workflow", "no phases"),
    ("a numeric phase id", start_body({"id": 5}), 400, "invalid_workflow", "id"),
    (
        "retries as text",
        start_body({"id": "a", "retries": "3"}),
        400,
        "invalid_workflow",
        "retries",
    ),
    (
        "negative retries",
        start_body({"id": "a", "retries": -1}),
        400,
        "invalid_workflow",
        "retries",
    ),
    (
        "a zero timeout",
        start_body({"id": "a", "timeout_s": 0}),
        400,
        "invalid_workflow",
        "timeout_s",
    ),
    (
        "options as a list",
        start_body({"id": "a"}, options=[]),
        400,
        "bad_request",
        "'options' must be a JSON object",
    ),
    (
        "options as false",
        start_body({"id": "a"}, options=False),
        400,
        "bad_request",
        "'options' must be a JSON object",
    ),
    (
        "an unknown option",
        start_body({"id": "a"}, options={"colour": 1}),
        400,
        "bad_request",
        "'colour'",
    ),
    (
        "max_parallel 0",
        start_body({"id": "a"}, options={"max_parallel": 0}),
        400,
        "bad_request",
        "max_parallel",
    ),
    (
        "max_parallel true",
        start_body({"id": "a"}, options={"max_parallel": True}),
        400,
        "bad_request",
        "max_parallel",
    ),
    (
        "max_parallel 1.5",
        start_body({"id": "a"}, options={"max_parallel": 1.5}),
        400,
        "bad_request",
        "'max_parallel' must be a whole number",
    ),
    (
        "a command holding NUL",
        start_body({"id": "a", "kind": "shell", "command": ["echo", "a\u0000b"]}),
        400,
        "invalid_workflow",
        "NUL",
    ),
    (
        "an env name holding '='",
        start_body({"id": "a", "kind": "shell", "command": "env", "env": {"A=B": "1"}}),
        400,
        "invalid_workflow",
        "env names",
    ),
    (
        "an unknown dependency",
        start_body({"id": "a", "after": ["ghost"]}),
        400,
        "invalid_workflow",
        "'ghost'",
    ),
    (
        "a cycle",
        start_body({"id": "a", "after": ["b"]}, {"id": "b", "after": ["a"]}),
        400,
        "invalid_workflow",
        "cycle",
    ),
    (
        "a duplicate phase id",
        start_body({"id": "a"}, {"id": "a"}),
        400,
        "invalid_workflow",
        "duplicate phase id 'a'",
    ),
    (
        "a path outside the root",
        start_body({"id": "a", "kind": "script", "path": "../outside.py"}),
        400,
        "invalid_workflow",
        "outside the server's root",
    ),
    (
        "an absolute path",
        start_body({"id": "a", "kind": "script", "path": "/etc/passwd"}),
        400,
        "invalid_workflow",
        "outside the server's root",
    ),
    (
        "a cwd outside the root",
        start_body({"id": "a", "kind": "shell", "command": "true", "cwd": "/"}),
        400,
        "invalid_workflow",
        "outside the server's root",
    ),
    (
        "a NUL in a path",
        start_body({"id": "a", "kind": "script", "path": "a\x00b.py"}),
        400,
        "invalid_workflow",
        "path 'a\\x00b.py' holds a NUL",
    ),
    (
        "a NUL in a cwd",
        start_body({"id": "a", "cwd": "\x00"}),
        400,
        "invalid_workflow",
        "cwd '\\x00' holds a NUL",
    ),
    (
        "a malformed python ref",
        start_body({"id": "a", "kind": "python", "ref": "os.system"}),
        400,
        "invalid_workflow",
        "'os.system'",
    ),
    (
        "a shell phase without a command",
        start_body({"id": "a", "kind": "shell"}),
        400,
        "invalid_workflow",
        "command",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "error", "names"),
    [case[1:] for case in HOSTILE_BODIES],
    ids=[case[0] for case in HOSTILE_BODIES],
)
def test_api_fuzz_hostile_body_gets_a_4xx_naming_the_problem(
    fuzz_client: FuzzClient, body: bytes, status: int, error: str | None, names: str
) -> None:
    case = SCHEMA["/executions"]["POST"].Case()
    before = documented_call(fuzz_client, "GET", "/executions", query={"q": "hostile"})

    response = fuzz_client.request("POST", "executions", data=body)

    after = documented_call(fuzz_client, "GET", "/executions", query={"q": "hostile"})
    fuzz_client.check(case, response, checks=CONFORMANCE)
    check_error_body(response)
    assert response.status_code == status, response.text
    assert error is None or response.json()["error"] == error
    assert names in response.json()["message"]
    assert after.json() == before.json()  # nothing stored


# (method, path, query, status, what the message must name)
HOSTILE_QUERIES = [
    ("/executions", {"limit": "abc"}, "'limit' must be a whole number"),
    ("/executions", {"limit": "0"}, "'limit' must be 1 to 500"),
    ("/executions", {"limit": "501"}, "'limit' must be 1 to 500"),
    ("/executions", {"status": "bogus"}, "unknown status 'bogus'"),
    ("/executions", {"q": "x" * 201}, "'q' must be at most 200 characters"),
    ("/executions", {"cursor": "garbage"}, "invalid cursor 'garbage'"),
    ("/executions", {"owner": "someone-else", "limit": "-5"}, "'limit'"),
    ("/executions", {"owner": "someone-else", "status": "x"}, "unknown status"),
    ("/executions/{execution_id}/events", {"since": "-1"}, "'since' must be 0 to"),
    ("/executions/{execution_id}/events", {"since": str(2**63)}, "'since'"),
    ("/executions/{execution_id}/events", {"since": "1.5"}, "whole number"),
    ("/executions/{execution_id}/events", {"limit": "0"}, "'limit'"),
]


@pytest.mark.parametrize(
    ("path", "query", "names"),
    HOSTILE_QUERIES,
    ids=[f"{path} {query}"[:60] for path, query, _ in HOSTILE_QUERIES],
)
def test_api_fuzz_hostile_query_gets_a_400_naming_the_argument(
    fuzz_client: FuzzClient, path: str, query: dict[str, str], names: str
) -> None:
    execution_id = "no-such-execution" if "{execution_id}" in path else None

    response = documented_call(
        fuzz_client, "GET", path, execution_id=execution_id, query=query
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert names in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "executions", "GET, POST, OPTIONS"),
        ("PATCH", "executions/some-id", "GET, DELETE, OPTIONS"),
        ("GET", "executions/some-id/cancel", "POST, OPTIONS"),
        ("DELETE", "token", "POST, OPTIONS"),
    ],
)
def test_api_fuzz_wrong_method_gets_a_405_with_allow(
    fuzz_client: FuzzClient, method: str, path: str, allowed: str
) -> None:
    response = fuzz_client.request(method, path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["error"] == "method_not_allowed"
    assert method in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "nothing-here",
        "executions/a.b",
        "executions/x/y/z",
        "executions/" + "a" * 65,
        "executions/%25zz",
    ],
)
def test_api_fuzz_unknown_route_gets_a_json_404(
    fuzz_client: FuzzClient, path: str
) -> None:
    response = fuzz_client.request("GET", path)

    assert response.status_code == 404
    check_error_body(response)
    message = response.json()["message"]
    assert "no such route" in message
    assert "%%" not in message  # the path as asked, not escaped twice


def test_api_fuzz_phase_kind_null_is_refused(fuzz_client: FuzzClient) -> None:
    # Guessing a kind from the other fields would run the command.
    body = {"workflow": {"id": "kind-null", "phases": [{"id": "a", "kind": None}]}}
    body["workflow"]["phases"][0]["command"] = ["true"]

    response = documented_call(fuzz_client, "POST", "/executions", body=body)

    assert response.status_code == 400
    assert "kind" in response.json()["message"]


def test_api_fuzz_null_options_take_the_defaults(fuzz_client: FuzzClient) -> None:
    options = {"max_parallel": None, "retry_backoff_s": None}
    body = {"workflow": {"id": "null-options", "phases": [{"id": "a"}]}}
    body["options"] = options

    response = documented_call(fuzz_client, "POST", "/executions", body=body)

    assert response.status_code == 201, response.text
    assert response.json()["workflow"]["phases"][0]["id"] == "a"


def test_api_fuzz_zz_server_log_has_no_traceback(fuzz_client: FuzzClient) -> None:
    """Last in this module: every client mistake above was logged as a refusal."""
    fuzz_client.server.stop()
    log = fuzz_client.server.log_text()

    tracebacks = [
        log[match.start() - 300 : match.start() + 2000]
        for match in TRACEBACK.finditer(log)
    ]
    assert tracebacks == []
    assert SERVER_ERROR_LINE.findall(log) == []
    assert "refused" in log  # the log does hold the refusals
