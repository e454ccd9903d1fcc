"""The OpenAPI 3 document of /api/v1, built from the routes' `documented` records and their pydantic models."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, url_for
from pydantic import BaseModel

from app.api.schemas import Error

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[str, ...]
    params: tuple[str, ...]
    is_cached: bool


def documented(summary: str, *, body=None, response=None, status: int = 200, errors=(), params=(), cached=False):
    """Record what a view takes and answers, for the document; the view itself is unchanged."""
    def mark(view):
        view.openapi = Operation(summary, body, response, status, tuple(errors), tuple(params), cached)
        return view
    return mark


def document() -> dict:
    schemas: dict = {}
    paths: dict = {}
    for rule in current_app.url_map.iter_rules():
        operation = getattr(current_app.view_functions[rule.endpoint], "openapi", None)
        if operation is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            paths.setdefault(path, {})[method.lower()] = _operation(operation, rule.arguments, schemas)
    return {"openapi": "3.1.0",
            "info": {"title": "CallBack public API", "version": "1",
                     "description": "Errors: {\"error\": {\"code\", \"message\"}} with a stable code."},
            "servers": [{"url": url_for("site.index", _external=True).rstrip("/")}],
            "paths": dict(sorted(paths.items())), "components": {"schemas": schemas}}


def _ref(model: type[BaseModel], schemas: dict) -> dict:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _operation(operation: Operation, arguments, schemas: dict) -> dict:
    out = {"summary": operation.summary, "parameters": [
        *({"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in sorted(arguments)),
        *({"name": name, "in": "query", "required": True, "schema": {"type": "string"}} for name in operation.params),
    ]}
    if operation.body is not None:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": _ref(operation.body, schemas)}}}
    success = {"description": "OK"}
    if operation.response is not None:
        success["content"] = {"application/json": {"schema": _ref(operation.response, schemas)}}
    if operation.is_cached:
        success["headers"] = {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}}
    out["responses"] = {str(operation.status): success}
    if operation.is_cached:
        out["responses"]["304"] = {"description": "Not modified (If-None-Match)"}
    if operation.errors:
        out["responses"]["4XX"] = {
            "description": "Error codes: " + ", ".join(operation.errors),
            "content": {"application/json": {"schema": _ref(Error, schemas)}}}
    return out
