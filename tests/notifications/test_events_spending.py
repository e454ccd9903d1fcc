"""Spending (N1): one e-mail per call or SMS charge at the "instant" frequency, or a daily / weekly digest holding
exactly that period's charges in the account's time zone."""
from __future__ import annotations

import datetime as dt

import pytest
from babel import dates
from events_helpers import MSK, VVO, backdate, keys, local, make_account, notices, received, set_spending

from app.db import utcnow
from app.extensions import db
from app.services import charges
from app.services.tariffs import Leg
from dialer.tasks import notify as notify_tasks

RU_MOBILE, RU_FIXED = "+79161234567", "+74951234567"
SMS_KOP = 300  # the starting tariff's SMS price


def _far() -> dt.datetime:
    return utcnow() + dt.timedelta(days=60)


@pytest.mark.backends
def test_instant_spending_mails_each_charge_once(app, mailbox, make_client_user):
    account_id, email = make_account(app, make_client_user, locale="en", balance_kop=100_000, trial_ends_at=_far())
    set_spending(app, account_id, "instant")
    with app.app_context():
        charges.charge_sms(account_id, 1001)
        charges.charge_sms(account_id, 1002)
        charges.charge_sms(account_id, 1001)  # the same SMS again: charged once, mailed once
        charges.charge_call(account_id, 77, 1, [Leg("manager", RU_FIXED, 61), Leg("client", RU_MOBILE, 61)])
        charges.charge_call(account_id, 78, 1, [Leg("manager", RU_FIXED, 2), Leg("client", RU_MOBILE, 0)])  # free
        db.session.commit()
    assert keys(app, account_id, "spending") == ["spending:sms:1001", "spending:sms:1002", "spending:call:77:1"]
    sms_mails = received(mailbox, email, 2, subject_has="an SMS charged")
    assert len(sms_mails) == 2 and all("RUB3.00" in m.subject for m in sms_mails)
    [call] = received(mailbox, email, 1, subject_has="a call charged")
    assert "RUB8.00" in call.subject  # 2 min × 1.50 + 2 min × 2.50
    assert "Calls and SMS are carried by the operator MTT" in call.text


def test_the_default_daily_frequency_sends_nothing_per_charge(app, mailbox, make_client_user):
    account_id, _ = make_account(app, make_client_user, balance_kop=100_000, trial_ends_at=_far())
    with app.app_context():
        charges.charge_sms(account_id, 2001)
        db.session.commit()
    assert notices(app, account_id, "spending") == []


def _sms_at(app, account_id: int, sms_id: int, at: dt.datetime) -> None:
    with app.app_context():
        charges.charge_sms(account_id, sms_id)
        db.session.commit()
    backdate(app, f"sms:{sms_id}", at)


@pytest.mark.backends
def test_the_daily_digest_holds_exactly_the_previous_local_days_charges(app, mailbox, make_client_user):
    day = utcnow().date() + dt.timedelta(days=1)
    yesterday = day - dt.timedelta(days=1)
    account_id, email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok",
                                     balance_kop=100_000, trial_ends_at=_far())
    set_spending(app, account_id, "daily")
    _sms_at(app, account_id, 3001, local(yesterday - dt.timedelta(days=1), 23, 59, VVO, 30))  # the day before
    _sms_at(app, account_id, 3002, local(yesterday, 0, 0, VVO, 30))  # in
    _sms_at(app, account_id, 3003, local(yesterday, 23, 59, VVO, 30))  # in (13:59 UTC the same day)
    _sms_at(app, account_id, 3004, local(day, 0, 0, VVO, 30))  # today: the next digest's

    run = notify_tasks.daily.call_local
    assert run(local(day, 9, 55, VVO)).get("spending") is None
    assert run(local(day, 10, 5, VVO))["spending"] == 1
    assert run(local(day, 12, 0, VVO)).get("spending") is None
    [notice] = notices(app, account_id, "spending")
    assert notice.dedup_key == f"spending:{account_id}:{yesterday}"
    [mail] = received(mailbox, email, 1, subject_has="CallBack spending on")
    assert f"RUB{2 * SMS_KOP / 100:.2f}" in mail.subject
    lines = [line for line in mail.text.splitlines() if "SMS" in line and "RUB" in line]
    expected = [local(yesterday, 0, 0, VVO, 30), local(yesterday, 23, 59, VVO, 30)]
    assert [line.split("  ")[0] for line in lines] == [
        dates.format_datetime(at.astimezone(VVO), "short", locale="en") for at in expected]
    assert "(Asia/Vladivostok)" in mail.text

    # The next day's digest holds only today's SMS.
    run(local(day + dt.timedelta(days=1), 10, 5, VVO))
    latest = notices(app, account_id, "spending")[-1]
    assert latest.dedup_key == f"spending:{account_id}:{day}"
    assert latest.body_text.count("RUB3.00") == 2  # the one line and the total


def test_the_weekly_digest_goes_on_local_mondays_with_the_previous_week(app, mailbox, make_client_user):
    today = utcnow().date()
    monday = today + dt.timedelta(days=7 - today.weekday())  # the next Monday
    first = monday - dt.timedelta(days=7)
    account_id, email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok",
                                     balance_kop=100_000, trial_ends_at=_far())
    set_spending(app, account_id, "weekly")
    _sms_at(app, account_id, 4001, local(first - dt.timedelta(days=1), 23, 59, VVO))  # the week before
    _sms_at(app, account_id, 4002, local(first, 0, 1, VVO))  # Monday of the week
    _sms_at(app, account_id, 4003, local(first + dt.timedelta(days=3), 14, 0, VVO))
    _sms_at(app, account_id, 4004, local(monday - dt.timedelta(days=1), 23, 59, VVO))  # Sunday night
    _sms_at(app, account_id, 4005, local(monday, 0, 1, VVO))  # this week

    run = notify_tasks.daily.call_local
    run(local(monday - dt.timedelta(days=1), 10, 5, VVO))  # Sunday: no digest
    assert notices(app, account_id, "spending") == []
    run(local(monday, 10, 5, VVO))
    run(local(monday, 15, 5, VVO))
    run(local(monday + dt.timedelta(days=1), 10, 5, VVO))  # Tuesday: none
    [notice] = notices(app, account_id, "spending")
    assert notice.dedup_key == f"spending:{account_id}:week:{first}"
    assert notice.body_text.count("RUB3.00") == 3 and f"RUB{3 * SMS_KOP / 100:.2f}" in notice.subject
    [mail] = received(mailbox, email, 1, subject_has="CallBack spending")
    assert " ".join(mail.subject.split()) == notice.subject  # (a long header is folded)


def test_a_day_without_charges_sends_no_digest(app, mailbox, make_client_user):
    day = utcnow().date() + dt.timedelta(days=1)
    account_id, _ = make_account(app, make_client_user, balance_kop=100_000, trial_ends_at=_far())
    notify_tasks.daily.call_local(local(day, 10, 5, MSK))
    assert notices(app, account_id, "spending") == []
