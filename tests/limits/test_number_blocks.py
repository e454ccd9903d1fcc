"""Escalating blocks (X1): a number that breaks its per-number limit is blocked for a day, across all accounts;
broken again once that block is over, for good. A blocked number is refused (`number_blocked`, stored rejected,
never dialed) even after its counters empty; staff lifting the block frees it.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import CallbackRequest, NumberBlock
from app.services import fraud, limits
from app.services.settings import set_setting

pytestmark = pytest.mark.backends

ORIGIN = "http://shop.example"
VICTIM = "+79161239999"


@pytest.fixture
def post(client, shop_site, request_body, fresh_limits):
    site_key, version = shop_site
    addresses = iter(range(1, 250))

    def post(phone: str = VICTIM):
        n = next(addresses)
        return client.post(f"/api/v1/widget/{site_key}/callbacks", json=request_body(phone, version, f"v{n}"),
                           headers={"Origin": ORIGIN}, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})

    return post


def code(response) -> str | None:
    return (response.get_json() or {}).get("error", {}).get("code")


def blocks(app) -> list[tuple]:
    with app.app_context():
        return [(b.phone, b.reason, b.until is None, b.lifted_at is None) for b in
                db.session.scalars(sa.select(NumberBlock).order_by(NumberBlock.id))]


def forget_counters(app) -> None:
    with app.app_context():
        limits.reset()
        db.session.commit()


def age_blocks(app, hours: int) -> None:
    """Move every block `hours` into the past, as if that much time went by."""
    with app.app_context():
        for block in db.session.scalars(sa.select(NumberBlock)):
            block.created_at -= dt.timedelta(hours=hours)
            block.until = block.until and block.until - dt.timedelta(hours=hours)
        db.session.commit()


def test_a_breach_blocks_the_number_for_a_day_then_a_second_breach_for_good(app, post, backend, counters):
    assert [code(post()) for _ in range(4)] == [None, None, None, "limit_number"]
    assert blocks(app) == [(VICTIM, "limit_number", False, True)]
    with app.app_context():
        block = db.session.scalars(sa.select(NumberBlock)).one()
        assert dt.timedelta(hours=23, minutes=59) < block.until - block.created_at <= dt.timedelta(hours=24)

    forget_counters(app)  # the counters alone would let it through again: the block does not
    answer = post()
    assert (answer.status_code, code(answer)) == (403, "number_blocked")
    with app.app_context():
        last = db.session.scalars(sa.select(CallbackRequest).order_by(CallbackRequest.id.desc())).first()
        assert (last.status, last.reject_reason, last.mode) == ("rejected", "number_blocked", "")
    assert post("+79161230000").status_code == 201  # another number is not concerned

    age_blocks(app, 25)  # a day later the block is over: the number may be called
    forget_counters(app)
    assert [code(post()) for _ in range(4)] == [None, None, None, "limit_number"]
    assert blocks(app)[-1] == (VICTIM, "limit_number", True, True)  # the second breach: for good
    age_blocks(app, 24 * 400)
    forget_counters(app)
    assert code(post()) == "number_blocked"


def test_staff_lifting_a_block_frees_the_number(app, post, backend, counters):
    assert [code(post()) for _ in range(4)] == [None, None, None, "limit_number"]
    forget_counters(app)
    assert code(post()) == "number_blocked"
    with app.app_context():
        fraud.lift(db.session.scalars(sa.select(NumberBlock)).one(), user_id=None, now=utcnow())
        db.session.commit()
    assert post().status_code == 201


def test_a_zero_block_duration_turns_blocking_off(app, post, backend, counters):
    with app.app_context():
        set_setting("number_block_hours", 0)
        db.session.commit()
    assert [code(post()) for _ in range(4)] == [None, None, None, "limit_number"]
    assert blocks(app) == []
