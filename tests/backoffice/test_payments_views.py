"""Back office: card payments, cards and refunds read-only for managers; administrators refund (B7)."""
from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from helpers import csrf_token, form_values, login

from app.extensions import db
from app.models import Account, Payment, Refund
from app.services import ledger, payments
from app.templating import money

LIST = "/admin/payments/"
REFUND = "/admin/payment-refund/"
GIFT = 10_000


@pytest.fixture
def app_overrides(yookassa):
    return yookassa.app_config()


def _paid(app, yookassa, account_id: int, amount_kop: int) -> int:
    """A top-up the client started and paid on YooKassa's page, credited through the service; its id."""
    with app.app_context(), app.test_request_context():
        payment = payments.start_topup(account_id, amount_kop, "https://app.example/back", save_card=False,
                                       email="payer@example.com", user_id=None)
        db.session.commit()
        yookassa.succeed(payment.provider_id)
        payments.refresh(payment.id)
        db.session.commit()
        return payment.id


@pytest.fixture
def paid(app, yookassa, make_client_user):
    """(payment id, account id, client ID): a 1 500 RUB top-up credited to a client's balance."""
    _, account_id, _, _ = make_client_user(company="Payer LLC")
    payment_id = _paid(app, yookassa, account_id, 150_000)
    with app.app_context():
        return payment_id, account_id, db.session.get(Account, account_id).client_code


def _staff(app, make_staff_user, role: str):
    _, email, password = make_staff_user(role)
    client = app.test_client()
    login(client, email, password)
    return client


@pytest.fixture
def manager(app, make_staff_user):
    return _staff(app, make_staff_user, "manager")


@pytest.fixture
def admin(app, make_staff_user):
    return _staff(app, make_staff_user, "admin")


def _money(app, kop: int) -> str:
    """Money as the back office shows it to staff (Russian by default)."""
    with app.app_context(), app.test_request_context():
        return money(kop)


def _state(app, payment_id: int, account_id: int) -> tuple[int, int, list[tuple[int, str]]]:
    """(the client's balance, the payment's refunded kopecks, its refunds as (amount, status))."""
    with app.app_context():
        refunded = db.session.get(Payment, payment_id).refunded_kop
        refunds = [tuple(row) for row in db.session.execute(
            sa.select(Refund.amount_kop, Refund.status).where(Refund.payment_id == payment_id).order_by(Refund.id))]
        return ledger.balance(account_id), refunded, refunds


def _refund_requests(yookassa) -> list:
    return [r for r in yookassa.requests if r["path"] == "/v3/refunds"]


def _shown_form(client, payment_id: int) -> dict[str, str]:
    html = client.get(f"{REFUND}?payment={payment_id}").get_data(as_text=True)
    return {name: values[0] for name, values in form_values(html).items()}


def _refund(client, payment_id: int, typed: dict):
    return client.post(REFUND, data={**_shown_form(client, payment_id), **typed})


def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error invalid-feedback[^"]*" id="([\w-]+)-error">(.*?)</p>', html, re.S))


def test_a_manager_reads_payments_cards_and_refunds_but_cannot_refund(app, yookassa, paid, manager):
    payment_id, account_id, code = paid
    page = manager.get(LIST).get_data(as_text=True)
    assert code in page and _money(app, 150_000) in page and "Успешен" in page and "Пополнение" in page
    assert REFUND not in page  # no refund link
    assert manager.get(f"/admin/payments/details/?id={payment_id}").status_code == 200
    assert manager.get("/admin/payment_cards/").status_code == 200
    assert manager.get("/admin/refunds/").status_code == 200
    assert manager.get(f"{REFUND}?payment={payment_id}").status_code == 403
    token = csrf_token(manager.get("/").get_data(as_text=True))  # a valid token of the manager's session
    refused = manager.post(REFUND, data={"csrf_token": token, "payment_id": str(payment_id), "amount": "100",
                                         "reason": "manager tries"})
    assert refused.status_code == 403
    assert _state(app, payment_id, account_id) == (GIFT + 150_000, 0, []) and _refund_requests(yookassa) == []


@pytest.mark.backends
def test_an_administrator_refunds_part_and_the_rest_is_offered_next(app, yookassa, paid, admin):
    payment_id, account_id, _ = paid
    assert f"{REFUND}?payment={payment_id}" in admin.get(LIST).get_data(as_text=True)
    assert _shown_form(admin, payment_id)["amount"] == "1500,00"
    done = _refund(admin, payment_id, {"amount": "500", "reason": "Client asked to return part of the top-up"})
    assert done.status_code == 302 and f"/admin/payments/details/?id={payment_id}" in done.headers["Location"]
    said = f"Возвращено {_money(app, 50_000)}. Баланс клиента теперь {_money(app, GIFT + 100_000)}."
    assert said in html.unescape(admin.get(done.headers["Location"]).get_data(as_text=True))
    assert _state(app, payment_id, account_id) == (GIFT + 100_000, 50_000, [(50_000, "succeeded")])
    assert [r["json"]["amount"]["value"] for r in _refund_requests(yookassa)] == ["500.00"]
    assert _shown_form(admin, payment_id)["amount"] == "1000,00"
    refunds = admin.get("/admin/refunds/").get_data(as_text=True)
    assert "Client asked to return part of the top-up" in refunds and _money(app, 50_000) in refunds


def test_the_same_refund_form_sent_twice_refunds_once(app, yookassa, paid, admin):
    payment_id, account_id, _ = paid
    shown = {**_shown_form(admin, payment_id), "amount": "400", "reason": "Double click"}
    first, second = admin.post(REFUND, data=shown), admin.post(REFUND, data=shown)
    assert first.status_code == second.status_code == 302
    assert _state(app, payment_id, account_id) == (GIFT + 110_000, 40_000, [(40_000, "succeeded")])
    assert len(_refund_requests(yookassa)) == 1


@pytest.mark.parametrize("typed, field, message", [
    ({"amount": "1500,01"}, "amount", "Сейчас можно вернуть не более {left}."),
    ({"amount": "0"}, "amount", "Сумма должна быть положительной."),
    ({"amount": "a lot"}, "amount", "Введите сумму в рублях"),
    ({"reason": ""}, "reason", ""),  # WTForms' own "required" message
    ({"payment_id": "999999"}, "payment_id", "Платежа с таким номером нет."),
])
def test_a_bad_refund_is_refused_with_a_message_and_nothing_moves(app, yookassa, paid, admin, typed, field,
                                                                  message):
    payment_id, account_id, _ = paid
    response = _refund(admin, payment_id, {"amount": "100", "reason": "Goodwill", **typed})
    assert response.status_code == 200
    assert message.format(left=_money(app, 150_000)) in _field_errors(response.get_data(as_text=True))[field]
    assert _state(app, payment_id, account_id) == (GIFT + 150_000, 0, []) and _refund_requests(yookassa) == []


def test_the_second_refund_cannot_exceed_what_is_left(app, yookassa, paid, admin):
    payment_id, account_id, _ = paid
    _refund(admin, payment_id, {"amount": "1000", "reason": "First part"})
    response = _refund(admin, payment_id, {"amount": "600", "reason": "Too much"})
    assert f"Сейчас можно вернуть не более {_money(app, 50_000)}." in \
        _field_errors(response.get_data(as_text=True))["amount"]
    assert _state(app, payment_id, account_id) == (GIFT + 50_000, 100_000, [(100_000, "succeeded")])
    _refund(admin, payment_id, {"amount": "500", "reason": "The rest"})
    assert "Возвращён полностью" in admin.get(LIST).get_data(as_text=True)
    assert _state(app, payment_id, account_id)[:2] == (GIFT, 150_000)


def test_a_payment_not_succeeded_is_not_refundable(app, yookassa, make_client_user, admin):
    _, account_id, _, _ = make_client_user()
    with app.app_context(), app.test_request_context():
        payment = payments.start_topup(account_id, 20_000, "https://app.example/back", save_card=False,
                                       email="payer@example.com", user_id=None)
        db.session.commit()
        payment_id = payment.id
    response = _refund(admin, payment_id, {"amount": "100", "reason": "Not paid yet"})
    assert "Вернуть можно только успешный платёж." in _field_errors(response.get_data(as_text=True))["payment_id"]
    assert _refund_requests(yookassa) == []


def test_payments_filter_by_client_id(app, yookassa, paid, make_client_user, manager):
    _, other_id, _, _ = make_client_user(company="Other LLC")
    _paid(app, yookassa, other_id, 33_300)
    _, _, code = paid
    everything = manager.get(LIST).get_data(as_text=True)
    mine, theirs = _money(app, 150_000), _money(app, 33_300)
    assert mine in everything and theirs in everything
    filtered = manager.get(f"{LIST}?flt0_0={code.lower()}").get_data(as_text=True)
    assert mine in filtered and theirs not in filtered
