"""The HTTP API's documentation, only when `API_DOCS=true`: the OpenAPI schema and a page drawn without scripts.

FastAPI's own pages load Swagger UI from a public CDN into the gateway's origin, where the staff console keeps
its token: a compromised CDN would own every staff session. This page is plain HTML built from the schema on
the server, so it needs no script at all and passes the gateway's content security policy.
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

METHODS = ("get", "post", "put", "patch", "delete")


def _schema_block(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, ensure_ascii=False, indent=2))}</pre>"


def render(schema: dict[str, Any]) -> str:
    """The documentation page: each path and method with its summary, parameters, body and answers."""
    parts = [f"<h1>{html.escape(schema['info']['title'])} — HTTP API</h1>",
             '<p>The schema itself: <a href="/openapi.json">/openapi.json</a>.</p>']
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method in METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            parts.append(f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>")
            described = operation.get("description") or operation.get("summary") or ""
            parts.append(f"<p>{html.escape(described)}</p>")
            if operation.get("parameters"):
                parts.append("<h3>Parameters</h3>" + _schema_block(operation["parameters"]))
            if operation.get("requestBody"):
                parts.append("<h3>Body</h3>" + _schema_block(operation["requestBody"]))
            parts.append("<h3>Answers</h3><ul>" + "".join(
                f"<li><code>{html.escape(code)}</code> {html.escape(answer.get('description', ''))}</li>"
                for code, answer in operation.get("responses", {}).items()) + "</ul></section>")
    if schema.get("components"):
        parts.append("<h2>Shapes</h2>" + _schema_block(schema["components"]))
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HTTP API</title>'
            '<style>body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}'
            'pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style></head><body>'
            + "".join(parts) + "</body></html>")


def install(app: FastAPI) -> None:
    """Adds GET /docs (the page) next to GET /openapi.json, which FastAPI serves when docs are on."""

    @app.get("/docs", include_in_schema=False)
    async def documentation() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()))
