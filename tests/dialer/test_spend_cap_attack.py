"""Reliability test 5 (X1, spend guard): an attack of callback requests whose visitors never answer, worth many
times the account's hourly spend cap, against the MTT sandbox over HTTP with mail through the local SMTP server.
Dialing is paused when the hour's charges reach the cap; the hour's charges end at most one call above it (the
requests are dialed one after another: one call in flight); later requests reach neither the sandbox nor a
call, each is forwarded to the owner by e-mail; the owner and the service get one alert each; another account
keeps calling."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of
from helpers import set_global_setting, top_up

from app.extensions import db
from app.models import Account, CallbackRequest, LedgerAccount, LedgerEntry, LedgerTransaction, Notification

ANNA = "+79990000001"
CAP = 1_000  # kopecks: the account's own cap, a few unanswered calls
ATTACK = 24  # requests, each from its own address to its own number (no per-number or per-prefix limit trips)
OPS = "ops@callback.example.com"


def _victim(n: int) -> str:
    return f"+7916{n:03d}4567"  # distinct prefixes (all but the last 4 digits)


def _call_debits(account_id: int) -> list[int]:
    return [-amount for amount in db.session.scalars(
        sa.select(LedgerEntry.amount_kop)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account_id, LedgerTransaction.kind == "call", LedgerEntry.amount_kop < 0))]


def _mail_of(mailbox, app, kind: str, account_id: int) -> list:
    """The messages the SMTP server received for the outbox rows of `kind` of the account."""
    with app.app_context():
        rows = db.session.execute(sa.select(Notification.recipient, Notification.subject)
                                  .where(Notification.kind == kind, Notification.account_id == account_id)).all()
    expected = set(rows)
    return [mail for mail in mailbox.messages if any((to, mail.subject.strip()) in expected for to in mail.rcpt_tos)]


@pytest.mark.backends
def test_an_attack_of_unanswered_calls_is_paused_at_the_cap(served_app, sandbox, make_shop, request_call, settle,
                                                            mailbox):
    app = served_app
    set_global_setting(app, "service_alert_email", OPS)
    shop = make_shop([("Anna", ANNA)])
    other = make_shop([("Anna", ANNA)])
    with app.app_context():
        top_up(shop.account_id, 200_000)
        db.session.get(Account, shop.account_id).spend_cap_per_hour_kop = CAP
        db.session.commit()
    sandbox.set_rules({"default": {"action": "no_answer"}, "numbers": {ANNA: {"action": "answer"}}})

    requests, promised = [], []
    for n in range(ATTACK):
        created = request_call(shop, phone=_victim(n))
        assert created["status_code"] == 201
        promised.append(created["mode"])
        requests.append(settle(created["id"]))

    with app.app_context():
        debits = _call_debits(shop.account_id)
        account = db.session.get(Account, shop.account_id)
        assert account.dialing_paused_at is not None
    assert ATTACK * min(debits) >= 5 * CAP  # the attack was worth at least 5 caps
    assert CAP <= sum(debits) <= CAP - 1 + max(debits)  # one call in flight at a time: at most one call over
    dialed = [r for r in requests if attempts_of(app, r.id)]
    held = [r for r in requests if not attempts_of(app, r.id)]
    assert len(dialed) == len(debits) == len(sandbox.calls) and len(held) == ATTACK - len(dialed) > 0
    assert requests[:len(dialed)] == dialed  # dialed until the pause, none after it
    assert {(r.status, r.mode, r.outcome) for r in dialed} == {("completed", "instant", "client_no_answer")}
    assert {(r.status, r.mode) for r in held} == {("passive", "passive")}
    # Once paused, the widget stops promising a call in 28 s: the API answers passive.
    assert promised == ["instant"] * len(dialed) + ["passive"] * len(held)

    with app.app_context():
        queued = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
        owner = db.session.scalar(sa.select(Notification.recipient).where(Notification.kind == "welcome",
                                                                          Notification.account_id == shop.account_id))
    mailbox.wait_for(queued)
    owner_alerts = _mail_of(mailbox, app, "dialing_paused", shop.account_id)
    service_alerts = _mail_of(mailbox, app, "dialing_paused_service", shop.account_id)
    forwarded = _mail_of(mailbox, app, "passive_request", shop.account_id)
    assert [m.rcpt_tos for m in owner_alerts] == [[owner]] and [m.rcpt_tos for m in service_alerts] == [[OPS]]
    assert len(forwarded) == len(held) and all(m.rcpt_tos == [owner] for m in forwarded)
    assert all(_victim(n) in " ".join(m.text for m in forwarded) for n in range(len(dialed), ATTACK))
    assert all("лимита расходов" in m.text for m in forwarded)  # the letter says why no call was made

    # Another account is not paused by this one's spend: its request is dialed.
    created = request_call(other, phone=_victim(ATTACK))
    assert settle(created["id"]).status == "completed" and len(sandbox.calls) == len(dialed) + 1
    with app.app_context():
        assert db.session.get(Account, other.account_id).dialing_paused_at is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallbackRequest)
                                 .where(CallbackRequest.account_id == shop.account_id)) == ATTACK
