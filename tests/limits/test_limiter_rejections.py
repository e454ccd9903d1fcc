"""Through the API: a request a limit refuses is answered 429 with the limit's code, stored as a `rejected`
row with its reason (never dialed, no consent record), logged as a warning, and counted in no limit.
"""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import CallbackRequest, ConsentRecord, RequestStatus, Site
from app.services.settings import set_setting

pytestmark = pytest.mark.backends

ORIGIN = "http://shop.example"
N1, N2, N3 = "+79161230001", "+79161230002", "+79161230003"
IP_A, IP_B = "192.0.2.10", "192.0.2.20"


@pytest.fixture
def post(client, shop_site, request_body, fresh_limits):
    site_key, version = shop_site

    def post(phone: str, session_id: str, ip: str):
        return client.post(f"/api/v1/widget/{site_key}/callbacks", json=request_body(phone, version, session_id),
                           headers={"Origin": ORIGIN}, environ_base={"REMOTE_ADDR": ip})

    return post


def configure(app, **settings) -> None:
    with app.app_context():
        for key, value in settings.items():
            set_setting(key, value)
        db.session.commit()


def rows(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            sa.select(CallbackRequest.phone, CallbackRequest.ip, CallbackRequest.status, CallbackRequest.reject_reason,
                      CallbackRequest.mode, ConsentRecord.id.is_not(None).label("has_consent"))
            .outerjoin(ConsentRecord, ConsentRecord.request_id == CallbackRequest.id)
            .order_by(CallbackRequest.id)).all()


def rejections_logged(caplog, app) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == app.logger.name and r.levelno == logging.WARNING and "rejected" in r.getMessage()]


# (settings, the accepted request, the refused one, one that passes because the refused one counted nowhere)
CASES = {
    "limit_number": ({"limit_number_per_10min": 1}, (N1, "s1", IP_A), (N1, "s2", IP_B), (N2, "s2", IP_B)),
    "limit_session": ({}, (N1, "s1", IP_A), (N2, "s1", IP_B), (N2, "s3", IP_B)),
    "limit_ip": ({"limit_ip_numbers_per_hour": 1}, (N1, "s1", IP_A), (N2, "s2", IP_A), (N2, "s2", IP_B)),
}


@pytest.mark.parametrize("reason", list(CASES))
def test_a_refused_request_is_stored_rejected_with_its_reason_and_logged(
        app, shop_site, post, caplog, backend, counters, reason):
    settings, first, refused, after = CASES[reason]
    configure(app, **settings)
    with app.app_context():
        site_id = db.session.scalar(sa.select(Site.id).where(Site.public_key == shop_site[0]))

    assert post(*first).status_code == 201
    assert rejections_logged(caplog, app) == []

    answer = post(*refused)
    assert answer.status_code == 429
    assert answer.get_json()["error"]["code"] == reason and answer.get_json()["error"]["message"]
    assert "status_token" not in answer.get_json()

    [accepted, rejected] = rows(app)
    assert accepted.status != RequestStatus.REJECTED and accepted.reject_reason is None and accepted.has_consent
    assert (rejected.phone, rejected.ip, rejected.status, rejected.reject_reason, rejected.mode) == (
        refused[0], refused[2], RequestStatus.REJECTED, reason, "")
    assert not rejected.has_consent  # no consent record: nothing will be done with the number
    assert rejections_logged(caplog, app) == [
        f"callback request rejected: {reason} site={site_id} ip={refused[2]}"]

    # The refusal counted in none of the limits: its session, address and number are still free.
    assert post(*after).status_code == 201
    assert [row.status == RequestStatus.REJECTED for row in rows(app)] == [False, True, False]


def test_every_refusal_is_logged_and_a_reset_unblocks(app, post, caplog, backend, counters):
    configure(app, limit_number_per_10min=2, limit_ip_numbers_per_hour=0, number_block_hours=0)  # no block
    codes = [post(N3, f"visitor-{n}", f"192.0.2.{n}").status_code for n in range(6)]

    assert codes == [201, 201, 429, 429, 429, 429]
    assert len(rejections_logged(caplog, app)) == 4
    assert [row.reject_reason for row in rows(app)] == [None, None] + ["limit_number"] * 4

    with app.app_context():  # the counters are emptied (as the back office's "unblock" does): the number is free
        from app.services import limits

        limits.reset()
        db.session.commit()
    assert post(N3, "visitor-after-reset", "192.0.2.99").status_code == 201
