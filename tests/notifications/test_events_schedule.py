"""The schedule `notify.daily`: registered as a periodic task, single-flight, and idempotent: re-runs and
overlapping runs send nothing twice; the sending hour is local in Moscow and Vladivostok."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from events_helpers import MSK, VVO, add_rent_tariff, backdate, local, make_account, notices, received, set_spending

from app.db import utcnow
from app.extensions import db
from app.services import charges, leases, notify_events
from dialer.huey_app import huey
from dialer.tasks import notify as notify_tasks


def test_it_is_a_periodic_task_every_ten_minutes():
    def due(stamp: dt.datetime) -> bool:
        return any(f"{type(t).__module__}.{t.name}" == "notify.daily" for t in huey.read_periodic(stamp))

    stamps = [dt.datetime(2026, 11, 27, 10, minute) for minute in range(60)]
    assert [s.minute for s in stamps if due(s)] == [0, 10, 20, 30, 40, 50]


def test_the_sending_hours_are_local():
    moment = dt.datetime(2026, 11, 27, 0, 5, tzinfo=dt.UTC)  # 03:05 in Moscow, 10:05 in Vladivostok
    assert notify_events.zone_of("Asia/Vladivostok").key == "Asia/Vladivostok"
    assert notify_events.zone_of("Mars/Olympus").key == "Europe/Moscow"  # an unknown zone falls back
    assert moment.astimezone(VVO).hour == 10 and moment.astimezone(MSK).hour == 3


def _prepare(app, make_client_user, day: dt.date) -> tuple[list[int], list[str]]:
    """Accounts with something due every day: low balance (Moscow and Vladivostok), a digest, the end of rent."""
    add_rent_tariff(app)
    far = local(day + dt.timedelta(days=30), 0, 0, MSK)
    msk, msk_email = make_account(app, make_client_user, locale="en", timezone="Europe/Moscow", trial_ends_at=far)
    vvo, vvo_email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok",
                          trial_ends_at=local(day + dt.timedelta(days=2), 12, 0, VVO))
    set_spending(app, vvo, "daily")
    with app.app_context():
        charges.charge_sms(vvo, 5001)
        db.session.commit()
    backdate(app, "sms:5001", local(day - dt.timedelta(days=1), 15, 0, VVO))
    return [msk, vvo], [msk_email, vvo_email]


def _all_keys(app, accounts: list[int]) -> list[str]:
    return sorted(n.dedup_key for account in accounts for n in notices(app, account) if n.kind != "welcome")


@pytest.mark.backends
def test_reruns_and_overlapping_runs_send_nothing_twice(app, mailbox, make_client_user):
    day = utcnow().date() + dt.timedelta(days=1)
    accounts, emails = _prepare(app, make_client_user, day)
    msk, vvo = accounts
    moment = local(day, 10, 5, MSK)  # 17:05 in Vladivostok: both within the sending hours

    barrier, results, errors = threading.Barrier(3), [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(notify_tasks.daily.call_local(moment))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    expected = sorted([f"low_balance:{msk}:{day}", f"low_balance:{vvo}:{day}", f"rent_ending:{vvo}:{day}",
                       f"spending:{vvo}:{day - dt.timedelta(days=1)}"])
    assert _all_keys(app, accounts) == expected

    for later in (dt.timedelta(minutes=10), dt.timedelta(hours=3)):  # the day's later runs
        assert notify_tasks.daily.call_local(moment + later) == {}
    assert _all_keys(app, accounts) == expected
    sent_ids = sorted(n.id for account in accounts for n in notices(app, account) if n.kind != "welcome")
    mails = [m for email in emails for m in received(mailbox, email, 4 if email == emails[1] else 2)]
    got = sorted(int(m.message["Message-ID"].split("-")[1].split("@")[0]) for m in mails)
    assert [i for i in got if i in sent_ids] == sent_ids  # each received over SMTP once


def test_a_run_holding_the_lease_makes_another_run_skip(app, mailbox, make_client_user):
    day = utcnow().date() + dt.timedelta(days=1)
    accounts, _ = _prepare(app, make_client_user, day)
    with app.app_context():
        assert leases.acquire("notify.daily", "other-run", notify_tasks.LEASE_S)
    assert notify_tasks.daily.call_local(local(day, 10, 5, MSK)) == {}
    assert _all_keys(app, accounts) == []
    with app.app_context():
        leases.release("notify.daily", "other-run")
    assert notify_tasks.daily.call_local(local(day, 10, 5, MSK))["low_balance"] == 2


def test_on_commit_callbacks_wait_for_the_outermost_commit(app_ctx):
    """The notices queued inside a savepoint (rent.renew_due's per account) are sent after the real commit only;
    a savepoint rolled back keeps the enclosing transaction's callbacks."""
    import sqlalchemy as sa

    from app.db import on_commit

    ran = []
    db.session.execute(sa.text("SELECT 1"))
    on_commit(db.session, lambda: ran.append("outer"))
    with db.session.begin_nested():
        on_commit(db.session, lambda: ran.append("inner"))
    assert ran == []  # the savepoint's release is no commit
    try:
        with db.session.begin_nested():
            raise RuntimeError
    except RuntimeError:
        pass
    assert ran == []
    db.session.commit()
    assert ran == ["outer", "inner"]
    db.session.execute(sa.text("SELECT 1"))
    on_commit(db.session, lambda: ran.append("rolled back"))
    db.session.begin_nested()  # a savepoint still open when the whole transaction rolls back
    db.session.rollback()
    db.session.commit()
    assert ran == ["outer", "inner"]
