"""End-to-end tests of the REST API on a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from dagstudio_jupyter._state import ExecutionState
from dagstudio_jupyter.client import Client

FORMAT = "dagstudio.workflow/1"


def workflow(*phases: dict[str, Any], id: str = "wf") -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": id,
        "name": f"Workflow {id}",
        "phases": list(phases),
    }


SMALL = workflow(
    {"id": "a", "kind": "shell", "command": "echo a"},
    {"id": "b", "kind": "noop", "after": ["a"]},
    {
        "id": "c",
        "kind": "python",
        "ref": "statistics:mean",
        "params": {"data": [1, 2, 3]},
        "after": ["a"],
    },
)


async def wait_finished(
    api: Any, execution_id: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = await api("GET", f"executions/{execution_id}")
        assert status == 200, body
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish: {body}")


def assert_error(result: Any, status: int, code: str, *fragments: str) -> None:
    """One check of an error answer: its status, JSON code and message."""
    got_status, body, _ = result
    assert got_status == status, body
    assert body["error"] == code, body
    for fragment in fragments:
        assert fragment in body["message"], body


async def test_executions_post_starts_a_run_that_completes(dagstudio_api: Any) -> None:
    status, body, response = await dagstudio_api(
        "POST", "executions", {"workflow": SMALL}
    )
    final = await wait_finished(dagstudio_api, body["id"])

    assert status == 201
    assert response.headers["Location"].endswith(
        f"/dagstudio/api/executions/{body['id']}"
    )
    assert body["owner"] and body["workflow"]["id"] == "wf"
    assert final["status"] == "completed"
    assert {p["id"]: p["status"] for p in final["phases"]} == {
        "a": "completed",
        "b": "completed",
        "c": "completed",
    }


async def test_events_since_returns_the_gap_free_tail(dagstudio_api: Any) -> None:
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": SMALL})
    final = await wait_finished(dagstudio_api, body["id"])

    _, everything, _ = await dagstudio_api("GET", f"executions/{body['id']}/events")
    _, tail, _ = await dagstudio_api("GET", f"executions/{body['id']}/events", since=3)

    seqs = [e["seq"] for e in everything["events"]]
    assert seqs == list(range(1, final["last_seq"] + 1))
    assert [e["seq"] for e in tail["events"]] == seqs[3:]
    assert tail["last_seq"] == everything["last_seq"] == final["last_seq"]
    replay = ExecutionState(final["id"], final["workflow"])
    for event in everything["events"]:
        replay.apply(event)
    assert replay.to_dict()["phases"] == final["phases"]


async def test_executions_list_filters_by_status_and_pages(dagstudio_api: Any) -> None:
    failing = workflow({"id": "x", "kind": "shell", "command": "exit 3"}, id="bad")
    ids = []
    for doc in (SMALL, SMALL, failing, SMALL):
        _, body, _ = await dagstudio_api("POST", "executions", {"workflow": doc})
        ids.append(body["id"])
    for execution_id in ids:
        await wait_finished(dagstudio_api, execution_id)

    _, failed, _ = await dagstudio_api("GET", "executions", status="failed")
    _, page1, _ = await dagstudio_api("GET", "executions", limit=3)
    _, page2, _ = await dagstudio_api(
        "GET", "executions", limit=3, cursor=page1["next_cursor"]
    )

    assert [e["id"] for e in failed["executions"]] == [ids[2]]
    listed = [e["id"] for e in page1["executions"] + page2["executions"]]
    assert listed == list(reversed(ids))
    assert page2["next_cursor"] is None
    assert page1["executions"][0]["progress"]["total"] == 3


async def test_executions_list_q_returns_only_matching_executions(
    dagstudio_api: Any, jp_serverapp: Any, jp_http_port: int, jp_base_url: str
) -> None:
    ids = {}
    for name in ("nightly-etl", "report", "ETL-backfill"):
        doc = workflow({"id": "a", "kind": "noop"}, id=name)
        _, body, _ = await dagstudio_api("POST", "executions", {"workflow": doc})
        ids[name] = body["id"]
    for execution_id in ids.values():
        await wait_finished(dagstudio_api, execution_id)
    client = Client(
        f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
        jp_serverapp.identity_provider.token,
    )

    _, etl, _ = await dagstudio_api("GET", "executions", q="etl")
    _, by_id, _ = await dagstudio_api("GET", "executions", q=ids["report"][-6:])
    _, paged, _ = await dagstudio_api("GET", "executions", q="eTl", limit=1)
    _, failed, _ = await dagstudio_api("GET", "executions", q="etl", status="failed")
    _, longest, _ = await dagstudio_api("GET", "executions", q="x" * 200)
    listed = await asyncio.to_thread(client.list, q="BACKFILL")

    assert [e["id"] for e in etl["executions"]] == [
        ids["ETL-backfill"],
        ids["nightly-etl"],
    ]
    assert [e["id"] for e in by_id["executions"]] == [ids["report"]]
    assert [e["id"] for e in paged["executions"]] == [ids["ETL-backfill"]]
    assert paged["next_cursor"] is not None
    assert failed["executions"] == [] and longest["executions"] == []
    assert [e["id"] for e in listed] == [ids["ETL-backfill"]]


async def test_cancel_answers_202_or_a_truthful_409_when_cancels_race(
    dagstudio_api: Any,
) -> None:
    slow = workflow({"id": "sleep", "kind": "shell", "command": "sleep 30"})
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": slow})
    path = f"executions/{body['id']}/cancel"

    async def cancel(delay_s: float) -> Any:
        await asyncio.sleep(delay_s)
        return await dagstudio_api("POST", path)

    answers = await asyncio.gather(*(cancel(i * 0.002) for i in range(12)))
    final = await wait_finished(dagstudio_api, body["id"])

    assert final["status"] == "cancelled"
    assert 202 in [status for status, _, _ in answers]
    for status, answer, _ in answers:
        if status != 202:
            assert status == 409, answer
            assert "is running" not in answer["message"], answer
            assert "is pending" not in answer["message"], answer


async def test_cancel_stops_a_running_execution(dagstudio_api: Any) -> None:
    slow = workflow(
        {"id": "sleep", "kind": "shell", "command": "sleep 30"},
        {"id": "then", "kind": "noop", "after": ["sleep"]},
    )
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": slow})

    status, cancelled, _ = await dagstudio_api(
        "POST", f"executions/{body['id']}/cancel"
    )
    again = await dagstudio_api("POST", f"executions/{body['id']}/cancel")

    assert status == 202 and cancelled["status"] == "cancelled"
    assert {p["status"] for p in cancelled["phases"]} == {"cancelled"}
    assert_error(again, 409, "conflict", "cancelled")


async def test_retry_runs_the_failed_part_again(
    dagstudio_api: Any, tmp_path: Any
) -> None:
    marker = tmp_path / "ready"
    count = tmp_path / "count"
    doc = workflow(
        {"id": "once", "kind": "shell", "command": f"echo x >> {count}"},
        {
            "id": "check",
            "kind": "shell",
            "command": f"test -f {marker}",
            "after": ["once"],
        },
        {"id": "after", "kind": "noop", "after": ["check"]},
    )
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": doc})
    failed = await wait_finished(dagstudio_api, body["id"])
    marker.write_text("")

    status, _, _ = await dagstudio_api("POST", f"executions/{body['id']}/retry")
    final = await wait_finished(dagstudio_api, body["id"])

    assert failed["status"] == "failed" and status == 202
    assert final["status"] == "completed"
    phases = {p["id"]: (p["status"], p["attempt"]) for p in final["phases"]}
    assert phases == {
        "once": ("completed", 1),
        "check": ("completed", 2),
        "after": ("completed", 1),
    }
    assert count.read_text() == "x\n"
    assert_error(
        await dagstudio_api("POST", f"executions/{body['id']}/retry"), 409, "conflict"
    )


async def test_concurrent_retries_start_the_failed_phase_once(
    dagstudio_api: Any, tmp_path: Any
) -> None:
    runs = tmp_path / "runs"
    # Each attempt lasts a few seconds, so every retry below asks while the
    # first one's attempt still runs (one that asked after it ended would
    # rightly start another).
    command = f"echo x >> {runs}; sleep 3; exit 1"
    doc = workflow({"id": "flaky", "kind": "shell", "command": command})
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": doc})
    await wait_finished(dagstudio_api, body["id"], timeout=60)

    answers = await asyncio.gather(
        *(dagstudio_api("POST", f"executions/{body['id']}/retry") for _ in range(6))
    )
    final = await wait_finished(dagstudio_api, body["id"], timeout=60)

    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [202] + [409] * 5
    assert runs.read_text() == "x\n" * 2  # the first run and one retry
    assert final["phases"][0]["attempt"] == 2


async def test_delete_forgets_a_finished_execution_and_refuses_a_running_one(
    dagstudio_api: Any,
) -> None:
    slow = workflow({"id": "sleep", "kind": "shell", "command": "sleep 30"})
    _, running, _ = await dagstudio_api("POST", "executions", {"workflow": slow})
    _, done, _ = await dagstudio_api("POST", "executions", {"workflow": SMALL})
    await wait_finished(dagstudio_api, done["id"])

    refused = await dagstudio_api("DELETE", f"executions/{running['id']}")
    status, _, _ = await dagstudio_api("DELETE", f"executions/{done['id']}")
    gone = await dagstudio_api("GET", f"executions/{done['id']}")
    await dagstudio_api("POST", f"executions/{running['id']}/cancel")

    assert_error(refused, 409, "conflict", "running")
    assert status == 204
    assert_error(gone, 404, "not_found", done["id"])


@pytest.mark.parametrize(
    ("body", "status", "code", "fragments"),
    [
        ("{not json", 400, "bad_request", ["not valid JSON"]),
        ("[1, 2]", 400, "bad_request", ["JSON object"]),
        ({"options": {}}, 400, "bad_request", ['"workflow"']),
        ({"workflow": SMALL, "extra": 1}, 400, "bad_request", ["'extra'"]),
        (
            {"workflow": workflow({"id": "a", "kind": "teleport"})},
            400,
            "invalid_workflow",
            ["'a'", "unknown kind 'teleport'"],
        ),
        (
            {
                "workflow": workflow(
                    {"id": "a", "after": ["b"]}, {"id": "b", "after": ["a"]}
                )
            },
            400,
            "invalid_workflow",
            ["cycle", "'a' -> 'b' -> 'a'"],
        ),
        (
            {"workflow": workflow({"id": "a", "after": ["ghost"]})},
            400,
            "invalid_workflow",
            ["unknown phase 'ghost'"],
        ),
        (
            {
                "workflow": workflow(
                    {"id": "s", "kind": "script", "path": "../../etc/x.py"}
                )
            },
            400,
            "invalid_workflow",
            ["'s'", "outside the server's root"],
        ),
        ({"workflow": SMALL, "options": {"speed": 9}}, 400, "bad_request", ["'speed'"]),
        (
            {"workflow": SMALL, "options": {"max_parallel": 0}},
            400,
            "bad_request",
            ["1 to"],
        ),
        ({"workflow": "x" * (1024 * 1024 + 1)}, 413, "payload_too_large", ["bytes"]),
    ],
)
async def test_executions_post_rejects_bad_input_with_a_json_error(
    dagstudio_api: Any, body: Any, status: int, code: str, fragments: list[str]
) -> None:
    result = await dagstudio_api("POST", "executions", body)

    assert_error(result, status, code, *fragments)
    _, listed, _ = await dagstudio_api("GET", "executions")
    assert listed["executions"] == []


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "fragment"),
    [
        ("executions/nope", {}, 404, "not_found", "'nope'"),
        ("executions/nope/events", {}, 404, "not_found", "'nope'"),
        ("executions", {"status": "sleepy"}, 400, "bad_request", "'sleepy'"),
        ("executions", {"limit": "many"}, 400, "bad_request", "'limit'"),
        ("executions", {"limit": "0"}, 400, "bad_request", "'limit'"),
        ("executions", {"cursor": "garbage!"}, 400, "bad_request", "cursor"),
        ("executions", {"q": "x" * 201}, 400, "bad_request", "'q'"),
    ],
)
async def test_get_rejects_bad_queries_and_unknown_ids(
    dagstudio_api: Any, path: str, params: dict, status: int, code: str, fragment: str
) -> None:
    assert_error(await dagstudio_api("GET", path, **params), status, code, fragment)


async def test_another_users_execution_is_not_found(
    dagstudio_api: Any, jp_serverapp: Any
) -> None:
    manager = jp_serverapp.web_app.settings["dagstudio_manager"]
    theirs = ExecutionState("theirs1", workflow({"id": "a"}), owner="mallory")
    manager.store.create_execution(theirs.to_dict())

    for method, path in [
        ("GET", "executions/theirs1"),
        ("GET", "executions/theirs1/events"),
        ("POST", "executions/theirs1/cancel"),
        ("DELETE", "executions/theirs1"),
    ]:
        assert_error(await dagstudio_api(method, path), 404, "not_found", "'theirs1'")
    _, listed, _ = await dagstudio_api("GET", "executions", owner="mallory")
    assert listed["executions"] == []


async def test_requests_without_credentials_are_refused(
    jp_base_url: str, jp_http_port: int, http_server_client: Any
) -> None:
    client = AsyncHTTPClient()
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}dagstudio/api/executions"

    with pytest.raises(HTTPClientError) as info:
        await client.fetch(url, method="POST", body=json.dumps({"workflow": SMALL}))

    assert info.value.code in (401, 403)


async def test_token_endpoint_mints_a_short_lived_token(dagstudio_api: Any) -> None:
    status, body, response = await dagstudio_api("POST", "token")

    assert status == 200
    assert body["token"].count(".") == 2 and 0 < body["expires_in"] <= 900
    assert body["expires_at"].endswith("Z")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def dagstudio_locked_store(dagstudio_store_path: Any) -> Any:
    """Another process holding the server's DuckDB file before the server starts."""
    dagstudio_store_path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]);"
            " print('held', flush=True); sys.stdin.read()",
            str(dagstudio_store_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    yield holder
    holder.stdin.close()  # type: ignore[union-attr]
    holder.stdout.close()
    holder.wait(10)


async def test_store_locked_by_another_process_answers_503(
    dagstudio_locked_store: Any, dagstudio_api: Any, dagstudio_store_path: Any
) -> None:
    result = await dagstudio_api("GET", "executions")
    post = await dagstudio_api("POST", "executions", {"workflow": SMALL})

    assert_error(
        result,
        503,
        "store_unavailable",
        str(dagstudio_store_path),
        "locked by another process",
        f"PID {dagstudio_locked_store.pid}",
        "stop that process",
    )
    assert_error(post, 503, "store_unavailable")
    assert_error(await dagstudio_api("POST", "token"), 503, "store_unavailable")
    assert "Traceback" not in result[1]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "nothing"),
        ("GET", "executions/a/b/c"),
        ("POST", "executions/x/bogus"),
        ("GET", "executions/%F0%9F%98%80"),
        ("GET", "executions/" + "a" * 200),
    ],
)
async def test_unknown_routes_answer_a_json_404(
    dagstudio_api: Any, method: str, path: str
) -> None:
    assert_error(await dagstudio_api(method, path), 404, "not_found", "no such route")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            '{"workflow": {"phases": [{"id": "a", "timeout_s": Infinity}]}}',
            "Infinity is not valid JSON",
        ),
        ('{"workflow": {"phases": [{"id": "a", "params": {"x": NaN}}]}}', "NaN"),
        (
            '{"workflow": {"phases": [{"id": "a", "params": {"d": '
            + "[" * 6000
            + "]" * 6000
            + "}}]}}",
            "nested too deeply",
        ),
        (
            '{"workflow": {"phases": [{"id": "a", "params": {"d": '
            + "[" * 950
            + "]" * 950
            + "}}]}}",
            "nested too deeply",
        ),
    ],
)
async def test_executions_post_rejects_non_standard_or_deep_json(
    dagstudio_api: Any, body: str, fragment: str
) -> None:
    status, answer, _ = await dagstudio_api("POST", "executions", body)

    assert status == 400, answer
    assert fragment in answer["message"]


async def test_events_last_seq_is_the_executions_not_the_requested_one(
    dagstudio_api: Any,
) -> None:
    _, body, _ = await dagstudio_api("POST", "executions", {"workflow": SMALL})
    final = await wait_finished(dagstudio_api, body["id"])

    _, page, _ = await dagstudio_api(
        "GET", f"executions/{body['id']}/events", since=99999
    )

    assert page == {"events": [], "last_seq": final["last_seq"]}
