"""End of rent (N4) daily from 7 local days before the block, rent expired once when the service stops, rent
renewed when the hourly renewal (B6) buys a month; in the account's time zone and language."""
from __future__ import annotations

import datetime as dt

import pytest
from babel import dates
from events_helpers import MONTH_KOP, VVO, add_rent_tariff, keys, local, make_account, notices, received, set_balance

from app.db import utcnow
from app.extensions import db
from app.services import ledger, rent
from dialer.tasks import billing as billing_tasks
from dialer.tasks import notify as notify_tasks


@pytest.fixture
def rented(app, make_client_user):
    """Factory: an account (trial over) with one bought month ending at `ends_at`, `balance` kopecks left."""
    add_rent_tariff(app)

    def make(ends_at: dt.datetime, balance: int, **kwargs) -> tuple[int, str]:
        starts_at = rent.add_months(ends_at, -1)
        account_id, email = make_account(app, make_client_user, trial_ends_at=starts_at, **kwargs)
        with app.app_context():
            set_balance(account_id, MONTH_KOP)
            rent.buy(account_id, 1, now=starts_at)
            set_balance(account_id, balance)
            db.session.commit()
        return account_id, email
    return make


def _day() -> dt.date:
    return utcnow().date() + dt.timedelta(days=1)


def test_rent_ending_is_sent_daily_from_seven_local_days_before_the_end(app, mailbox, rented):
    day = _day()
    ends_at = local(day + dt.timedelta(days=8), 15, 0, VVO)
    account_id, email = rented(ends_at, 1_000, locale="en", timezone="Asia/Vladivostok")
    run = notify_tasks.daily.call_local
    for offset in range(9):  # the local days from 8 days before the end to the end's day, twice each
        for hour in (10, 14):  # the second run of the end's day is before its 15:00
            run(local(day + dt.timedelta(days=offset), hour, 5, VVO))
    assert keys(app, account_id, "rent_ending") == [
        f"rent_ending:{account_id}:{day + dt.timedelta(days=offset)}" for offset in range(1, 9)]
    mails = received(mailbox, email, 8, subject_has="rent ends")
    assert [m.subject for m in mails[:2]] == ["CallBack rent ends in 7 days", "CallBack rent ends in 6 days"]
    assert mails[-1].subject == "CallBack rent ends today"
    when = dates.format_datetime(ends_at.astimezone(VVO), "short", locale="en")  # the local wall-clock time
    assert f"{when} (Asia/Vladivostok)" in mails[0].text
    assert "/cabinet/billing" in mails[0].text

    # The end itself: the service stops, announced once.
    assert run(ends_at - dt.timedelta(minutes=5)).get("rent_expired") is None
    assert run(ends_at + dt.timedelta(minutes=5))["rent_expired"] == 1
    for later in (dt.timedelta(minutes=15), dt.timedelta(hours=20), dt.timedelta(days=2)):
        assert run(ends_at + later).get("rent_expired") is None
    [expired] = received(mailbox, email, 1, subject_has="rent has ended")
    assert "The rent of your account" in expired.text and "forwarded to you by e-mail" in expired.text
    assert keys(app, account_id, "rent_expired") == [
        f"rent_expired:{account_id}:{ends_at.astimezone(dt.UTC).isoformat()}"]
    # 10 RUB is below the low-balance threshold: daily while the rent ran, none once it is blocked.
    assert keys(app, account_id, "low_balance") == [
        f"low_balance:{account_id}:{day + dt.timedelta(days=offset)}" for offset in range(9)]


def test_no_rent_ending_when_the_balance_renews_it_but_a_trial_always_warns(app, mailbox, rented,
                                                                             make_client_user):
    day = _day()
    covered_id, _ = rented(local(day + dt.timedelta(days=3), 12, 0, VVO), MONTH_KOP, timezone="Asia/Vladivostok")
    trial_id, trial_email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok",
                                         trial_ends_at=local(day + dt.timedelta(days=3), 12, 0, VVO))
    with app.app_context():
        set_balance(trial_id, 10 * MONTH_KOP)
        db.session.commit()
    notify_tasks.daily.call_local(local(day, 10, 5, VVO))
    assert keys(app, covered_id, "rent_ending") == []
    assert keys(app, trial_id, "rent_ending") == [f"rent_ending:{trial_id}:{day}"]
    [mail] = received(mailbox, trial_email, 1, subject_has="rent ends")
    assert "free trial" in mail.text


@pytest.mark.backends
def test_the_hourly_renewal_sends_rent_renewed_once(app, mailbox, rented):
    ends_at = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    account_id, email = rented(ends_at, MONTH_KOP + 1_000, locale="en")
    bought = keys(app, account_id, "rent_renewed")  # the month bought by `rented` itself
    assert len(bought) == 1

    assert billing_tasks.renew.call_local(ends_at - dt.timedelta(minutes=20)) == 1
    assert billing_tasks.renew.call_local(ends_at - dt.timedelta(minutes=10)) == 0
    assert keys(app, account_id, "rent_renewed") == bought + [
        f"rent_renewed:{rent.ledger_key(account_id, ends_at)}"]
    [mail] = received(mailbox, email, 1, subject_has="rent paid until")[-1:]
    assert "renewed automatically" in mail.text and "RUB500.00" in mail.text and "Operator: MTT" in mail.text


def test_a_payment_resuming_a_stopped_service_sends_top_up_and_rent_renewed(app, mailbox, rented):
    ends_at = utcnow().replace(microsecond=0) - dt.timedelta(hours=2)
    account_id, email = rented(ends_at, 0, locale="en")
    with app.app_context():
        rent.credit_and_resume(account_id, lambda: ledger.post(
            "payment:yookassa:resume-test", "payment",
            [(ledger.client_account(account_id), MONTH_KOP), (ledger.system_account("system:yookassa"), -MONTH_KOP)]))
        db.session.commit()
    [topup] = notices(app, account_id, "topup")
    assert topup.dedup_key == "topup:payment:yookassa:resume-test" and "Balance now: RUB500.00" in topup.body_text
    renewed = notices(app, account_id, "rent_renewed")
    assert len(renewed) == 2 and "resumed the service" in renewed[-1].body_text
    assert "Balance now: RUB0.00" in renewed[-1].body_text and renewed[-1].id > topup.id  # the top-up first


def test_the_rent_ending_notice_says_when_autopay_will_pay(app, mailbox, rented):
    from app.models import Autopay, PaymentCard
    from app.services import payments

    day = _day()
    with_card, _ = rented(local(day + dt.timedelta(days=2), 12, 0, VVO), 1_000, locale="en",
                          timezone="Asia/Vladivostok")
    without, _ = rented(local(day + dt.timedelta(days=2), 12, 0, VVO), 1_000, locale="en",
                        timezone="Asia/Vladivostok")
    with app.app_context():
        card = PaymentCard(account_id=with_card, provider_method_id="pm-events-1", title="Bank card *4444")
        db.session.add(card)
        db.session.flush()
        db.session.add(Autopay(account_id=with_card, is_enabled=True, card_id=card.id))
        db.session.commit()
        assert payments.autopay_of(with_card).is_enabled
    notify_tasks.daily.call_local(local(day, 10, 5, VVO))
    [paid_by_card] = notices(app, with_card, "rent_ending")
    [plain] = notices(app, without, "rent_ending")
    assert "Autopay is on" in paid_by_card.body_text and "Autopay is on" not in plain.body_text
    assert "RUB10.00" in plain.body_text and "RUB500.00" in plain.body_text  # the balance and a month's price
