"""The demo seed shows the notifications (issue 8 part 5): real events through the services leave a notice of
every account kind on the page of sent mail and SMS, a second account gets the low-balance and rent-ending
notices, and seeding again adds nothing."""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from app.cli import DEMO_EMAILS, in_sending_hours
from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, Notification, User
from app.services import ledger, notifications
from app.services.notify_events import zone_of
from dialer.tasks import notify as notify_tasks

CLIENT_KINDS = ["welcome", "topup", "invoice_issued", "topup", "invoice_paid", "rent_renewed"]
LOW_KINDS = ["welcome", "low_balance", "rent_ending"]


def _seed(app) -> dict:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _notices(app) -> list[tuple[int, str, str]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            sa.select(Notification.account_id, Notification.kind, Notification.recipient).order_by(Notification.id))]


def _counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                     for model in (Notification, LedgerTransaction, Account, User))


def test_the_seed_shows_every_account_kind_once(app, mailbox):
    demo = _seed(app)
    client, low = demo["account_id"], demo["lowbalance_account_id"]
    assert demo["lowbalance"]["email"] == DEMO_EMAILS["lowbalance"] == "lowbalance@demo.example.com"

    notices = _notices(app)
    assert [kind for account, kind, _ in notices if account == client] == CLIENT_KINDS
    assert [kind for account, kind, _ in notices if account == low] == LOW_KINDS
    assert {recipient for account, _, recipient in notices if account == client} == {DEMO_EMAILS["client"]}
    assert {recipient for account, _, recipient in notices if account == low} == {DEMO_EMAILS["lowbalance"]}
    with app.app_context():
        assert ledger.balance(low) < notifications.low_balance_threshold_kop(low)
        assert notifications.preference(client, "spending").frequency == "instant"  # a demo call's charges

    before = _counts(app)
    assert _seed(app) == demo
    assert _counts(app) == before  # no notice, posting, account or user twice
    assert _notices(app) == notices


def test_the_schedule_keeps_warning_the_low_balance_account(app, mailbox):
    demo = _seed(app)
    low = demo["lowbalance_account_id"]
    run = notify_tasks.daily.call_local
    with app.app_context():
        seeded_at = in_sending_hours(low, utcnow())
        zone = zone_of(db.session.get(Account, low).timezone)
    assert run(seeded_at + dt.timedelta(minutes=10)) == {}  # the seed's own checks used the day's keys

    next_day = seeded_at.astimezone(zone).date() + dt.timedelta(days=1)
    counts = run(dt.datetime.combine(next_day, dt.time(11, 0), zone).astimezone(dt.UTC))
    assert counts == {"low_balance": 1, "rent_ending": 1}
    with app.app_context():
        rows = db.session.execute(sa.select(Notification.kind, Notification.recipient, Notification.dedup_key)
                                  .where(Notification.dedup_key.like(f"%:{low}:{next_day.isoformat()}"))).all()
    assert sorted(rows) == [("low_balance", DEMO_EMAILS["lowbalance"], f"low_balance:{low}:{next_day}"),
                            ("rent_ending", DEMO_EMAILS["lowbalance"], f"rent_ending:{low}:{next_day}")]
