"""The OpenAPI document matches the live routes and the answers they give."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
import pytest

from dagstudio_jupyter.server.handlers import OPENAPI, ROUTES

DOC = json.loads(OPENAPI.read_text())
METHODS = ("get", "post", "put", "patch", "delete")


def documented_routes() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DOC["paths"].items()
        for method in item
        if method in METHODS
    }


def served_routes() -> set[tuple[str, str]]:
    served = set()
    for pattern, handler in ROUTES:
        path = "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        for method in METHODS:
            if method in vars(handler):
                served.add((path, method))
    return served


def schema_for(name: str) -> dict[str, Any]:
    """A JSON Schema for one component, with OpenAPI's `nullable` spelled out."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: convert(v) for k, v in node.items()}
            if node.pop("nullable", False):
                if "type" in node:
                    node["type"] = [node["type"], "null"]
                    if "enum" in node:
                        node["enum"] = [*node["enum"], None]
                else:
                    node = {"anyOf": [node, {"type": "null"}]}
            if node.get("exclusiveMinimum") is True:
                node["exclusiveMinimum"] = node.pop("minimum")
            if "$ref" in node:
                node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
            return node
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    defs = convert(DOC["components"]["schemas"])
    return {"$ref": f"#/$defs/{name}", "$defs": defs}


def test_openapi_documents_every_served_route_and_nothing_else() -> None:
    served = served_routes() - {("/openapi.json", "get")}

    assert documented_routes() == served


def test_openapi_links_name_documented_operations_and_their_parameters() -> None:
    operations = {
        op["operationId"]: (path, op)
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }
    links = [
        link
        for item in DOC["paths"].values()
        for method, op in item.items()
        if method in METHODS
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]

    assert links
    for link in links:
        path, _ = operations[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", path)), link


def test_openapi_every_operation_documents_its_error_body() -> None:
    for path, method in documented_routes():
        responses = DOC["paths"][path][method]["responses"]
        errors = [code for code in responses if code.startswith(("4", "5"))]
        assert errors, (path, method)


async def test_openapi_live_answers_match_the_document(dagstudio_api: Any) -> None:
    doc = {
        "format": "dagstudio.workflow/1",
        "id": "w",
        "phases": [
            {"id": "a", "kind": "noop"},
            {"id": "b", "kind": "noop", "after": ["a"]},
        ],
    }

    _, served_doc, _ = await dagstudio_api("GET", "openapi.json")
    _, started, _ = await dagstudio_api("POST", "executions", {"workflow": doc})
    for _ in range(200):
        _, execution, _ = await dagstudio_api("GET", f"executions/{started['id']}")
        if execution["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    _, page, _ = await dagstudio_api("GET", "executions")
    _, events, _ = await dagstudio_api("GET", f"executions/{started['id']}/events")
    _, token, _ = await dagstudio_api("POST", "token")
    _, error, _ = await dagstudio_api("GET", "executions/missing")

    assert served_doc == DOC
    for name, body in [
        ("Execution", started),
        ("Execution", execution),
        ("ExecutionPage", page),
        ("EventPage", events),
        ("Token", token),
        ("Error", error),
    ]:
        jsonschema.validate(body, schema_for(name))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"error": "x"}, schema_for("Error"))
