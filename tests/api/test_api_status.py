"""GET /api/v1/callbacks/<id>?token= (W11): the live status, readable only with the request's token."""
from __future__ import annotations

import pytest
from helpers import api_error

from app.extensions import db
from app.models import CallbackRequest

ORIGIN = "https://shop.example.com"


@pytest.fixture
def created(post_callback) -> dict:
    response = post_callback()
    assert response.status_code == 201
    return response.get_json()


def status_of(client, request_id, token, **kwargs):
    return client.get(f"/api/v1/callbacks/{request_id}", query_string={"token": token}, **kwargs)


def test_a_new_request_reads_received_and_instant(client, created):
    response = status_of(client, created["id"], created["status_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["mode"]) == (created["id"], "received", "instant")
    assert body["outcome"] is None and body["duration_s"] is None


def test_a_completed_request_reads_its_outcome_and_duration(app, client, created):
    with app.app_context():
        row = db.session.get(CallbackRequest, created["id"])
        row.status, row.outcome, row.duration_s = "completed", "success", 74
        db.session.commit()
    body = status_of(client, created["id"], created["status_token"]).get_json()
    assert (body["status"], body["outcome"], body["duration_s"]) == ("completed", "success", 74)


def test_the_status_is_never_cached(client, created):
    response = status_of(client, created["id"], created["status_token"])
    assert "no-store" in response.headers["Cache-Control"]


def test_the_sites_page_may_read_the_status_cross_origin(client, created):
    response = status_of(client, created["id"], created["status_token"], headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origin_gets_no_cors_header(client, created):
    response = status_of(client, created["id"], created["status_token"], headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("token", ["wrong", "", None])
def test_a_wrong_or_missing_token_is_404_like_a_missing_request(client, created, token):
    query = {} if token is None else {"token": token}
    wrong = client.get(f"/api/v1/callbacks/{created['id']}", query_string=query)
    missing = status_of(client, created["id"] + 1000, created["status_token"])
    assert api_error(wrong) == api_error(missing) == (404, "not_found")
    assert wrong.get_json() == missing.get_json()


def test_one_requests_token_does_not_open_another(client, post_callback, created):
    other = post_callback(phone="+79001112233").get_json()
    assert api_error(status_of(client, other["id"], created["status_token"])) == (404, "not_found")


@pytest.mark.backends
@pytest.mark.parametrize("request_id", [2**31, 10**20])
def test_an_id_beyond_the_id_column_is_404_not_found(client, request_id):
    response = client.get(f"/api/v1/callbacks/{request_id}", query_string={"token": "x"})
    assert api_error(response) == (404, "not_found")
