"""The OpenAPI document (A1) and the API's JSON answers to unknown paths and methods."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import api_error
from openapi_spec_validator import validate

import app as app_package
from app.services.widget_config import error_message

APP_DIR = Path(app_package.__file__).parent
# Where the views' error codes are raised: the views themselves and the services a callback request passes.
RAISED = {
    "api/views.py": r'ApiError\("(\w+)"',
    "api/http.py": r'ApiError\("(\w+)"',
    "services/callbacks.py": r'_refuse\("(\w+)"|return "(\w+)"$',  # the refusals, and the blacklist's reason
    "services/limits.py": r'Limit\("(\w+)"',
    "services/phones.py": r'code = "(\w+)"',
}
ROUTE_ERRORS = {
    ("get", "/api/v1/widget/{site_key}"): {"site_not_found", "site_inactive", "origin_not_allowed"},
    ("post", "/api/v1/widget/{site_key}/callbacks"): {
        "invalid_request", "invalid_phone", "country_not_allowed", "consent_required", "consent_outdated",
        "invalid_department", "invalid_slot", "site_not_found", "site_inactive", "origin_not_allowed",
        "blacklisted", "limit_number", "limit_session", "limit_ip", "rate_limited"},
    ("get", "/api/v1/callbacks/{request_id}"): {"not_found"},
    ("post", "/api/v1/widget/{site_key}/events"): {"invalid_request", "site_not_found", "origin_not_allowed",
                                                    "rate_limited"},
}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def documented_codes(operation: dict) -> set[str]:
    text = " ".join(answer.get("description", "") for answer in operation["responses"].values())
    return set(re.findall(r"[a-z]+(?:_[a-z]+)+|[a-z]+", text))


def raised_codes() -> set[str]:
    codes = set()
    for name, pattern in RAISED.items():
        for match in re.finditer(pattern, (APP_DIR / name).read_text(), re.M):
            codes.update(group for group in match.groups() if group)
    return codes


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented(app, document):
    routes = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.rule != "/api/v1/openapi.json"}
    assert routes == {(method, path) for path, item in document["paths"].items() for method in item}


def test_request_bodies_are_documented_by_their_schemas(document):
    schemas = document["components"]["schemas"]
    callback = document["paths"]["/api/v1/widget/{site_key}/callbacks"]["post"]["requestBody"]
    ref = callback["content"]["application/json"]["schema"]["$ref"]
    body = schemas[ref.rsplit("/", 1)[1]]
    assert "phone" in body["required"] and body["additionalProperties"] is False
    assert {"phone", "country", "consent", "consent_version", "department_id", "scheduled_for",
            "visitor"} <= set(body["properties"])
    events = document["paths"]["/api/v1/widget/{site_key}/events"]["post"]["requestBody"]
    assert events["content"]["application/json"]["schema"]["$ref"].endswith("/EventsIn")


@pytest.mark.parametrize("method, path", sorted(ROUTE_ERRORS))
def test_each_route_documents_the_error_codes_it_can_answer(document, method, path):
    assert ROUTE_ERRORS[method, path] <= documented_codes(document["paths"][path][method])


def test_every_error_code_the_views_raise_is_documented_and_has_a_message(app, document):
    codes = raised_codes()
    assert {"site_not_found", "invalid_phone", "limit_ip", "blacklisted", "consent_outdated"} <= codes  # the scan works
    documented = set().union(*(documented_codes(operation) for item in document["paths"].values()
                               for operation in item.values()))
    assert codes - documented == set()
    with app.test_request_context():
        generic = error_message("no_such_code")
        assert [code for code in sorted(codes) if error_message(code) == generic] == []


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/widget/key", "/api/v1/callbacks/abc"])
def test_an_unknown_api_path_answers_json_not_found(client, path):
    response = client.get(path)
    assert api_error(response) == (404, "not_found")
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("method, path", [("delete", "/api/v1/widget/key"), ("put", "/api/v1/widget/key/callbacks"),
                                          ("post", "/api/v1/callbacks/1"), ("get", "/api/v1/widget/key/events")])
def test_a_wrong_method_answers_json_method_not_allowed(client, method, path):
    response = client.open(path, method=method.upper())
    assert api_error(response) == (405, "method_not_allowed")
    assert response.mimetype == "application/json"
