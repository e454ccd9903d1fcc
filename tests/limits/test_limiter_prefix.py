"""The per-prefix limit (X1): at most N distinct numbers sharing all but their last 4 digits in an hour, across
all accounts, on the same atomic admission as the other limits (database rows and Redis). A run of consecutive
numbers (traffic pumping) stops after N; the refused ones are stored `rejected` with `limit_prefix`
(a rejected row is never dialed).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import CallbackRequest, RequestStatus
from app.services.settings import set_setting

pytestmark = pytest.mark.backends

ORIGIN = "http://shop.example"
RUN = [f"+7916555{n:04d}" for n in range(1, 9)]  # eight consecutive numbers of one prefix, +7916555


@pytest.fixture
def post(client, shop_site, request_body, fresh_limits):
    site_key, version = shop_site
    addresses = iter(range(1, 250))

    def post(phone: str):
        n = next(addresses)
        return client.post(f"/api/v1/widget/{site_key}/callbacks", json=request_body(phone, version, f"v{n}"),
                           headers={"Origin": ORIGIN}, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})

    return post


def rejected(app) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(sa.select(CallbackRequest.phone, CallbackRequest.reject_reason)
                                  .where(CallbackRequest.status == RequestStatus.REJECTED)
                                  .order_by(CallbackRequest.id)).all()


def test_a_run_of_consecutive_numbers_stops_at_the_prefix_limit(app, post, backend, counters):
    codes = [post(phone).status_code for phone in RUN]

    assert codes == [201] * 5 + [429] * 3  # the default: 5 distinct numbers of a prefix an hour
    assert [tuple(row) for row in rejected(app)] == [(phone, "limit_prefix") for phone in RUN[5:]]
    assert post("+79165560001").status_code == 201  # another prefix is free
    assert post(RUN[0]).status_code == 201  # a number already counted is no new number of the prefix


def test_the_prefix_limit_is_a_setting_and_zero_turns_it_off(app, post, backend, counters):
    with app.app_context():
        set_setting("limit_prefix_numbers_per_hour", 2)
        db.session.commit()
    assert [post(phone).status_code for phone in RUN[:3]] == [201, 201, 429]
    with app.app_context():
        set_setting("limit_prefix_numbers_per_hour", 0)
        db.session.commit()
    assert [post(phone).status_code for phone in RUN[3:]] == [201] * 5


def test_the_prefix_limit_counts_across_accounts(app, client, post, request_body, backend, counters):
    from app.services import accounts, sites

    with app.app_context():
        other = sites.create_site(accounts.signup("owner@other.example.com", "correct-horse-9", "Other LLC").account,
                                  "Other", ["http://other.example"])
        db.session.commit()
        other_key = other.public_key
    assert [post(phone).status_code for phone in RUN[:4]] == [201] * 4

    def post_to_other(phone: str, version: str):
        return client.post(f"/api/v1/widget/{other_key}/callbacks", json=request_body(phone, version, "o1"),
                           headers={"Origin": "http://other.example"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})

    from app.services.site_settings import effective_settings
    from app.services.widget_config import consent_version
    with app.app_context():
        version = consent_version(effective_settings(other.account_id, other.id).consent_text)
    assert post_to_other(RUN[4], version).status_code == 201
    assert post_to_other(RUN[5], version).get_json()["error"]["code"] == "limit_prefix"
