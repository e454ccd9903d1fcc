"""Low balance (N3): checked once a day at the local sending hour, not on every charge; again the next local day
while the balance stays below; stops when topped up above the threshold or the account is blocked (expired)."""
from __future__ import annotations

import datetime as dt

import pytest
from events_helpers import MSK, VVO, keys, local, make_account, notices, received, set_balance

from app.db import utcnow
from app.extensions import db
from app.models import Account
from app.services import charges, notifications
from dialer.tasks import notify as notify_tasks


def _day() -> dt.date:
    return utcnow().date() + dt.timedelta(days=1)


def _far(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=30), dt.time(), dt.UTC)


def test_low_balance_is_sent_once_a_local_day_not_per_charge_until_topped_up_or_blocked(app, mailbox,
                                                                                       make_client_user):
    day = _day()
    account_id, email = make_account(app, make_client_user, locale="en", trial_ends_at=_far(day))  # 100 RUB gift
    run = notify_tasks.daily.call_local

    assert run(local(day, 9, 55, MSK)).get("low_balance") is None  # before the sending hour
    assert run(local(day, 10, 5, MSK))["low_balance"] == 1
    with app.app_context():  # calls and SMS during the day: no further notice
        for sms_id in range(1, 4):
            charges.charge_sms(account_id, f"lb-{sms_id}")
        db.session.commit()
    for moment in (local(day, 10, 15, MSK), local(day, 18, 0, MSK), local(day, 23, 59, MSK)):
        assert run(moment).get("low_balance") is None
    [mail] = received(mailbox, email, 1, subject_has="Low balance")
    assert "RUB100.00" in mail.subject and "below RUB150.00" in mail.text and "/cabinet/billing/topup" in mail.text

    assert run(local(day + dt.timedelta(days=1), 10, 5, MSK))["low_balance"] == 1  # still below the next day
    with app.app_context():
        set_balance(account_id, 20_000)  # topped up above the threshold
        db.session.commit()
    assert run(local(day + dt.timedelta(days=2), 10, 5, MSK)).get("low_balance") is None
    with app.app_context():  # below again, but the rent has ended: blocked for non-payment
        set_balance(account_id, 5_000)
        db.session.get(Account, account_id).trial_ends_at = local(day + dt.timedelta(days=2), 12, 0, MSK)
        db.session.commit()
    assert run(local(day + dt.timedelta(days=3), 10, 5, MSK)).get("low_balance") is None

    assert keys(app, account_id, "low_balance") == [f"low_balance:{account_id}:{day}",
                                                    f"low_balance:{account_id}:{day + dt.timedelta(days=1)}"]
    assert len(received(mailbox, email, 2, subject_has="Low balance")) == 2


def test_the_threshold_is_the_accounts_own(app, mailbox, make_client_user):
    day = _day()
    low_id, _ = make_account(app, make_client_user, trial_ends_at=_far(day))
    own_id, _ = make_account(app, make_client_user, trial_ends_at=_far(day))
    with app.app_context():
        notifications.set_low_balance_threshold_kop(own_id, 5_000)  # 50 RUB: the 100 RUB gift is above it
        db.session.commit()
    notify_tasks.daily.call_local(local(day, 11, 0, MSK))
    assert len(notices(app, low_id, "low_balance")) == 1
    assert notices(app, own_id, "low_balance") == []


@pytest.mark.backends
def test_low_balance_goes_out_at_the_local_hour_in_moscow_and_vladivostok(app, mailbox, make_client_user):
    day = _day()
    msk_id, _ = make_account(app, make_client_user, locale="en", timezone="Europe/Moscow", trial_ends_at=_far(day))
    vvo_id, vvo_email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok",
                                     trial_ends_at=_far(day))
    run = notify_tasks.daily.call_local

    run(local(day, 9, 55, VVO))  # 23:55 UTC the day before: 09:55 in Vladivostok, 02:55 in Moscow
    assert keys(app, vvo_id, "low_balance") == []
    run(local(day, 10, 5, VVO))  # 00:05 UTC: 10:05 in Vladivostok, 03:05 in Moscow
    assert keys(app, vvo_id, "low_balance") == [f"low_balance:{vvo_id}:{day}"]
    assert keys(app, msk_id, "low_balance") == []
    run(local(day, 10, 5, MSK))  # 07:05 UTC: 17:05 in Vladivostok (already sent today), 10:05 in Moscow
    assert keys(app, vvo_id, "low_balance") == [f"low_balance:{vvo_id}:{day}"]
    assert keys(app, msk_id, "low_balance") == [f"low_balance:{msk_id}:{day}"]
    run(local(day, 21, 0, MSK))  # 18:00 UTC: 04:00 the next day in Vladivostok, before its sending hour
    assert len(keys(app, vvo_id, "low_balance")) == 1
    run(local(day + dt.timedelta(days=1), 10, 0, VVO))  # 00:00 UTC: the next local day in Vladivostok
    assert keys(app, vvo_id, "low_balance") == [f"low_balance:{vvo_id}:{day}",
                                                f"low_balance:{vvo_id}:{day + dt.timedelta(days=1)}"]
    assert len(keys(app, msk_id, "low_balance")) == 1
    assert len(received(mailbox, vvo_email, 2, subject_has="Low balance")) == 2  # both received over SMTP
