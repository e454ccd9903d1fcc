"""Helpers of the dialer's tests: rows read back detached."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import CallAttempt, CallbackRequest, Site


def request_row(app, request_id: int) -> CallbackRequest:
    with app.app_context():
        row = db.session.get(CallbackRequest, request_id)
        db.session.expunge(row)
        return row


def attempts_of(app, request_id: int) -> list[CallAttempt]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(CallAttempt).where(CallAttempt.request_id == request_id)
                                       .order_by(CallAttempt.number)))
        for row in rows:
            db.session.expunge(row)
        return rows


def site_count(app, account_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Site).where(Site.account_id == account_id))


def stored_request(app, shop, *, status: str = "scheduled", scheduled_for=None, phone: str = "+79995550000",
                   created_at=None) -> int:
    """A request row written directly (as the API stores one), for times the API would refuse now."""
    from app.db import utcnow

    with app.app_context():
        row = CallbackRequest(account_id=shop.account_id, site_id=shop.site_id, phone=phone, country="RU",
                              mode="scheduled" if scheduled_for else "instant", status=status,
                              scheduled_for=scheduled_for, status_token_hash="0" * 64, ip="10.0.0.1",
                              created_at=created_at or utcnow())
        db.session.add(row)
        db.session.commit()
        return row.id
