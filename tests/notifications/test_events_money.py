"""Money coming in (N5, N6): a card payment through the fake YooKassa, a bank invoice issued and marked paid, an
administrator's credit; each e-mailed once to the account's owner in its language, MTT named as the operator."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from events_helpers import keys, make_account, notices, received
from invoice_helpers import COMPANY

from app.extensions import db
from app.models import Account, Payment
from app.services import adjustments, invoices, ledger, payments

RETURN_URL = "http://127.0.0.1/portal/billing/return"


@pytest.fixture
def app_overrides(yookassa):
    return yookassa.app_config()


def _pay(app, client, yookassa, account_id: int, email: str, kop: int) -> str:
    """A top-up started as the cabinet does, paid on the checkout page, its notification delivered."""
    with app.app_context():
        payment = payments.start_topup(account_id, kop, RETURN_URL, save_card=False, email=email, user_id=None)
        db.session.commit()
        url, provider_id = payment.confirmation_url, payment.provider_id
    assert yookassa.press(url, "Pay").status_code == 303
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    return provider_id


@pytest.mark.backends
def test_a_card_payment_is_emailed_once_with_date_amount_method_and_mtt(app, client, yookassa, mailbox,
                                                                       make_client_user):
    account_id, email = make_account(app, make_client_user, locale="en", timezone="Asia/Vladivostok")
    provider_id = _pay(app, client, yookassa, account_id, email, 50_000)

    [mail] = received(mailbox, email, 1, subject_has="topped up")
    assert mail.rcpt_tos == [email]
    assert "RUB500.00" in mail.subject
    text = mail.text
    assert "Amount: RUB500.00" in text and "Balance now: RUB600.00" in text  # 100 RUB gift + 500
    assert "Method: bank card (Bank card *4444)" in text
    assert "Operator: MTT (Multiregional TransitTelecom JSC)" in text  # N6
    assert "(Asia/Vladivostok)" in text
    assert keys(app, account_id, "topup") == [f"topup:payment:yookassa:{provider_id}"]
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    assert "RUB500.00" in html and "MTT" in html

    # YooKassa delivering it again and the return page asking: credited once, e-mailed once.
    body = yookassa.notifications[-1]
    assert client.post("/hooks/yookassa", json=body, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    with app.app_context():
        payments.refresh(db.session.scalar(sa.select(Payment.id).where(Payment.provider_id == provider_id)))
        db.session.commit()
    assert len(received(mailbox, email, 1, subject_has="topped up")) == 1
    assert len(notices(app, account_id, "topup")) == 1


def test_a_card_payment_is_in_russian_by_default(app, client, yookassa, mailbox, make_client_user):
    account_id, email = make_account(app, make_client_user)  # locale "ru"
    _pay(app, client, yookassa, account_id, email, 25_000)
    [notice] = notices(app, account_id, "topup")
    assert notice.locale == "ru" and notice.recipient == email
    [mail] = received(mailbox, email, 1, subject_has="250,00")
    assert "250,00\xa0₽" in mail.text and "МТТ" in mail.text  # Russian money format; the operator named


def test_a_declined_payment_sends_no_top_up_notice(app, client, yookassa, mailbox, make_client_user):
    account_id, email = make_account(app, make_client_user, locale="en")
    with app.app_context():
        payment = payments.start_topup(account_id, 50_000, RETURN_URL, save_card=False, email=email, user_id=None)
        db.session.commit()
        url = payment.confirmation_url
    yookassa.press(url, "Decline")
    yookassa.deliver(client)
    assert notices(app, account_id, "topup") == []


@pytest.mark.backends
def test_an_invoice_issued_and_marked_paid_is_emailed_once_each(app, mailbox, make_client_user, make_staff_user):
    account_id, email = make_account(app, make_client_user, locale="en")
    admin_id, _, _ = make_staff_user("admin")
    with app.app_context():
        invoices.save_company_details(account_id, **COMPANY)
        invoice = invoices.issue(account_id, 120_000)
        db.session.commit()
        invoice_id, number = invoice.id, invoice.number
    [issued] = received(mailbox, email, 1, subject_has=f"Invoice {number} for")
    assert "RUB1,200.00" in issued.subject and "/cabinet/billing/invoices" in issued.text
    assert "Operator: MTT" in issued.text

    for _ in range(2):  # a double click: credited once, e-mailed once
        with app.app_context():
            invoices.mark_paid(invoice_id, admin_id)
            db.session.commit()
    [paid] = received(mailbox, email, 1, subject_has=f"Invoice {number} is paid")
    assert "RUB1,200.00" in paid.text and "Operator: MTT" in paid.text
    [topup] = received(mailbox, email, 1, subject_has="topped up")
    assert f"Method: bank transfer, invoice {number}" in topup.text
    assert keys(app, account_id, "topup") == [f"topup:invoice:{invoice_id}"]
    assert keys(app, account_id, "invoice_paid") == [f"invoice_paid:{invoice_id}"]
    assert keys(app, account_id, "invoice_issued") == [f"invoice_issued:{invoice_id}"]


def test_an_administrators_credit_is_a_top_up_and_a_debit_is_not(app, mailbox, make_client_user, make_staff_user):
    account_id, email = make_account(app, make_client_user, locale="en")
    admin_id, _, _ = make_staff_user("admin")
    with app.app_context():
        key = adjustments.new_key()
        adjustments.adjust(account_id, 30_000, "Compensation for an outage", admin_id, key)
        adjustments.adjust(account_id, 30_000, "Compensation for an outage", admin_id, key)  # resubmitted
        adjustments.adjust(account_id, -5_000, "Correction of a mistake", admin_id)
        db.session.commit()
        assert ledger.balance(account_id) == 10_000 + 30_000 - 5_000
    [mail] = received(mailbox, email, 1, subject_has="topped up")
    assert "Method: credited by the administrator" in mail.text and "RUB300.00" in mail.text
    assert keys(app, account_id, "topup") == [f"topup:{key}"]


def test_the_top_up_notice_follows_the_locked_preference(app, mailbox, make_client_user, make_staff_user):
    """N5: the top-up notice is locked on by default; an administrator switching it off for one account stops it."""
    from app.services import notifications

    account_id, email = make_account(app, make_client_user, locale="en")
    other_id, other_email = make_account(app, make_client_user, locale="en")
    admin_id, _, _ = make_staff_user("admin")
    with app.app_context():
        assert notifications.preference(account_id, "topup").locked
        notifications.set_admin_override(account_id, "topup", locked=True, enabled=False)
        for target in (account_id, other_id):
            adjustments.adjust(target, 10_000, "Goodwill credit", admin_id)
        db.session.commit()
        assert db.session.get(Account, account_id) is not None
    assert notices(app, account_id, "topup") == []
    assert len(received(mailbox, other_email, 1, subject_has="topped up")) == 1


def test_a_failing_notice_never_undoes_the_credit(app, mailbox, make_client_user, make_staff_user, monkeypatch,
                                                  caplog):
    from app.services import notifications

    account_id, _ = make_account(app, make_client_user, locale="en")
    admin_id, _, _ = make_staff_user("admin")

    def broken(*args, **kwargs):
        raise RuntimeError("template broken")

    monkeypatch.setattr(notifications, "notify", broken)
    with app.app_context():
        adjustments.adjust(account_id, 30_000, "Goodwill credit", admin_id)
        db.session.commit()
        assert ledger.balance(account_id) == 40_000
    assert notices(app, account_id, "topup") == []
    assert "notification trigger credited failed" in caplog.text
