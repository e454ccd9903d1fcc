"""The cabinet's card payments (B7): top-up through the fake YooKassa over HTTP, the return page, cards, autopay."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from helpers import csrf_token

from app.extensions import db
from app.models import Autopay, Payment, PaymentCard
from app.services import ledger

TOPUP = "/cabinet/billing/topup"
CARDS = "/cabinet/billing/cards"
GIFT = 10_000  # the sign-up gift every new account starts with


@pytest.fixture
def app_overrides(yookassa):
    return yookassa.app_config()


def _post(client, url: str, data: dict, page: str | None = None, **kwargs):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data}, **kwargs)


def _start(client, amount: str, save_card: bool = False):
    return _post(client, TOPUP, {"amount": amount, **({"save_card": "y"} if save_card else {})})


def _come_back(client, checkout_answer) -> str:
    """Follow the checkout's redirect to our return URL, as the browser would; the page's text."""
    assert checkout_answer.status_code == 303
    return client.get(urlparse(checkout_answer.headers["Location"]).path, follow_redirects=True).get_data(as_text=True)


def _pay(client, yookassa, amount: str, save_card: bool = False, button: str = "Pay") -> str:
    started = _start(client, amount, save_card)
    assert started.status_code == 303, started.get_data(as_text=True)
    return _come_back(client, yookassa.press(started.headers["Location"], button))


def _balance(app, account_id: int) -> int:
    with app.app_context():
        return ledger.balance(account_id)


def _shown_balance(client) -> str:
    return re.search(r'data-testid="balance">([^<]+)<', client.get("/cabinet/billing").get_data(as_text=True)).group(1)


def _payments(app, account_id: int) -> list[tuple[int, str, int]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(sa.select(Payment.id, Payment.status, Payment.amount_kop)
                                                         .where(Payment.account_id == account_id)
                                                         .order_by(Payment.id))]


def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', html, re.S))


@pytest.mark.backends
def test_a_topup_through_the_checkout_is_credited_once(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    started = _start(client, "1 500")
    assert started.status_code == 303
    assert started.headers["Location"].startswith(yookassa.url + "/checkout/")
    create = [r for r in yookassa.requests if r["method"] == "POST" and r["path"] == "/v3/payments"]
    assert [r["json"]["amount"]["value"] for r in create] == ["1500.00"]
    assert create[0]["json"]["save_payment_method"] is False
    [(payment_id, _, _)] = _payments(app, account_id)  # the client comes back to this payment's own page
    assert create[0]["json"]["confirmation"]["return_url"] == (
        f"http://localhost/cabinet/billing/payments/{payment_id}/return")

    page = _come_back(client, yookassa.press(started.headers["Location"], "Pay"))
    assert "Credited RUB1,500.00 to your balance." in page
    assert _balance(app, account_id) == GIFT + 150_000
    client.get(f"/cabinet/billing/payments/{_payments(app, account_id)[0][0]}/return")  # reloaded
    yookassa.deliver(client)  # the webhook's notification arrives too
    assert _balance(app, account_id) == GIFT + 150_000
    assert _shown_balance(client) == "RUB1,600.00"
    listing = client.get(TOPUP).get_data(as_text=True)
    assert 'data-status="succeeded"' in listing and "Credited" in listing and "Bank card *4444" in listing


def test_kopecks_are_kept_and_the_billing_page_links_the_payment_pages(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    _pay(client, yookassa, "1500,50")
    assert _balance(app, account_id) == GIFT + 150_050
    billing = client.get("/cabinet/billing").get_data(as_text=True)
    for link in (TOPUP, CARDS, "/cabinet/billing/invoices"):
        assert f'href="{link}"' in billing


@pytest.mark.parametrize("typed, message", [
    ("", "Type the amount."),
    ("abc", "Type an amount in roubles"),
    ("12,345", "Type an amount in roubles"),
    ("99,99", "The amount must be from RUB100.00 to RUB500,000.00."),
    ("500 000,01", "The amount must be from RUB100.00 to RUB500,000.00."),
    ("-200", "The amount must be from"),
])
def test_a_bad_amount_is_explained_next_to_the_field_and_nothing_is_asked(app, yookassa, two_clients, typed,
                                                                          message):
    client, account_id = two_clients["alpha"]
    response = _start(client, typed)
    assert response.status_code == 200
    assert message in _field_errors(response.get_data(as_text=True))["amount"]
    assert yookassa.requests == [] and _payments(app, account_id) == []


@pytest.mark.parametrize("trouble", ["fail", "hang", "stopped"])
def test_the_payment_service_down_gives_a_readable_message(app, yookassa, two_clients, trouble):
    client, account_id = two_clients["alpha"]
    if trouble == "fail":
        yookassa.fail_next(503)
    elif trouble == "hang":
        yookassa.hang(30)  # longer than YOOKASSA_TIMEOUT_S: our deadline answers first
    else:
        yookassa.stop()
    response = _start(client, "1000")
    yookassa.hang(0)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The payment service did not answer, try again in a minute." in page
    assert 'value="1000"' in page  # the form again, as typed
    assert _payments(app, account_id) == [] and _balance(app, account_id) == GIFT


def test_a_declined_payment_says_why_and_credits_nothing(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    started = _start(client, "700")
    payment_id = _payments(app, account_id)[0][0]
    yookassa.cancel(urlparse(started.headers["Location"]).path.rsplit("/", 1)[1], "insufficient_funds")
    page = client.get(f"/cabinet/billing/payments/{payment_id}/return").get_data(as_text=True)
    assert "Payment declined: not enough money on the card." in page
    assert _balance(app, account_id) == GIFT
    assert "Declined" in client.get(TOPUP).get_data(as_text=True)


def test_the_checkout_decline_button_lands_on_a_declined_page(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    page = _pay(client, yookassa, "700", button="Decline")
    assert "Payment declined:" in page and _balance(app, account_id) == GIFT


def test_before_the_bank_answers_the_page_waits_and_reloads_itself(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    started = _start(client, "300")
    payment_id = _payments(app, account_id)[0][0]
    response = client.get(f"/cabinet/billing/payments/{payment_id}/return")
    page = response.get_data(as_text=True)
    assert "Waiting for the bank to confirm the payment." in page and 'data-testid="reload"' in page
    assert response.headers["Refresh"] == "5"
    yookassa.press(started.headers["Location"], "Pay")
    response = client.get(f"/cabinet/billing/payments/{payment_id}/return")
    assert "Credited RUB300.00" in response.get_data(as_text=True) and "Refresh" not in response.headers


def test_the_return_page_waits_when_the_payment_service_does_not_answer(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    started = _start(client, "300")
    yookassa.press(started.headers["Location"], "Pay")
    payment_id = _payments(app, account_id)[0][0]
    yookassa.fail_next(500)
    response = client.get(f"/cabinet/billing/payments/{payment_id}/return")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "did not answer just now" in page and "Waiting for the bank" in page
    assert _balance(app, account_id) == GIFT
    assert "Credited RUB300.00" in client.get(f"/cabinet/billing/payments/{payment_id}/return").get_data(as_text=True)
    assert _balance(app, account_id) == GIFT + 30_000


@pytest.mark.backends
def test_another_clients_payment_is_not_found_and_not_touched(app, yookassa, two_clients):
    alpha, alpha_id = two_clients["alpha"]
    beta, beta_id = two_clients["beta"]
    started = _start(alpha, "400")
    payment_id = _payments(app, alpha_id)[0][0]
    yookassa.succeed(urlparse(started.headers["Location"]).path.rsplit("/", 1)[1])
    asked = len(yookassa.requests)
    assert beta.get(f"/cabinet/billing/payments/{payment_id}/return").status_code == 404
    assert len(yookassa.requests) == asked  # nothing was fetched, so nothing applied
    assert _payments(app, alpha_id) == [(payment_id, "pending", 40_000)]
    assert _balance(app, alpha_id) == GIFT and _balance(app, beta_id) == GIFT
    assert "400.00" not in beta.get(TOPUP).get_data(as_text=True)


def test_a_saved_card_is_listed_and_the_consent_is_on_the_form(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    form = client.get(TOPUP).get_data(as_text=True)
    consent = re.search(r'data-testid="autopay-consent">(.*?)</p>', form, re.S).group(1)
    for words in ("missing part of the monthly rent", "below your threshold", "switch autopay off or remove"):
        assert words in consent
    assert "No saved cards" in client.get(CARDS).get_data(as_text=True)
    _pay(client, yookassa, "1000", save_card=True)
    assert yookassa.requests[0]["json"]["save_payment_method"] is True
    cards = client.get(CARDS).get_data(as_text=True)
    assert "•••• 4444" in cards and "12/2030" in cards and "MasterCard •••• 4444, 12/2030" in cards


def _card_id(app, account_id: int) -> int:
    with app.app_context():
        return db.session.scalars(sa.select(PaymentCard.id).where(PaymentCard.account_id == account_id)).one()


def _autopay(app, account_id: int) -> tuple | None:
    with app.app_context():
        row = db.session.get(Autopay, account_id)
        return None if row is None else (row.is_enabled, row.card_id, row.threshold_kop, row.amount_kop)


def test_enabling_autopay_without_a_card_is_refused_next_to_the_card(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    response = _post(client, CARDS, {"is_enabled": "y", "card_id": ""})
    assert response.status_code == 200
    assert "Choose a saved card" in _field_errors(response.get_data(as_text=True))["card_id"]
    assert _autopay(app, account_id) is None


def test_autopay_with_an_automatic_topup_is_saved_and_shown(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    _pay(client, yookassa, "1000", save_card=True)
    card_id = _card_id(app, account_id)
    response = _post(client, CARDS, {"is_enabled": "y", "card_id": str(card_id), "threshold": "200",
                                     "amount": "1 000,50"}, follow_redirects=True)
    assert "Autopay settings saved." in response.get_data(as_text=True)
    assert _autopay(app, account_id) == (True, card_id, 20_000, 100_050)
    shown = client.get(CARDS).get_data(as_text=True)
    assert 'value="200"' in shown and 'value="1000,50"' in shown and "checked" in shown
    switched_off = _post(client, CARDS, {"card_id": str(card_id), "threshold": "", "amount": ""})
    assert switched_off.status_code == 302 and _autopay(app, account_id) == (False, card_id, None, None)


@pytest.mark.parametrize("typed, field, message", [
    ({"threshold": "200"}, "amount", "Fill in both the threshold and the amount, or neither."),
    ({"amount": "500"}, "threshold", "Fill in both the threshold and the amount, or neither."),
    ({"threshold": "200", "amount": "50"}, "amount", "The amount must be from RUB100.00"),
    ({"threshold": "lots", "amount": "500"}, "threshold", "Type an amount in roubles"),
])
def test_a_half_or_bad_automatic_topup_is_refused_next_to_its_field(app, yookassa, two_clients, typed, field,
                                                                    message):
    client, account_id = two_clients["alpha"]
    _pay(client, yookassa, "1000", save_card=True)
    before = _autopay(app, account_id)
    response = _post(client, CARDS, {"is_enabled": "y", "card_id": str(_card_id(app, account_id)), **typed})
    assert message in _field_errors(response.get_data(as_text=True))[field]
    assert _autopay(app, account_id) == before


def test_removing_a_card_asks_first_and_switches_autopay_off(app, yookassa, two_clients):
    client, account_id = two_clients["alpha"]
    _pay(client, yookassa, "1000", save_card=True)
    card_id = _card_id(app, account_id)
    _post(client, CARDS, {"is_enabled": "y", "card_id": str(card_id)})
    url = f"/cabinet/billing/cards/{card_id}/remove"
    confirm = client.get(url).get_data(as_text=True)
    assert "Remove the card" in confirm and "autopay is switched off" in confirm
    assert client.post(url, data={}).status_code == 400  # no CSRF token: refused, nothing removed
    assert _autopay(app, account_id)[0] is True
    done = _post(client, url, {}, follow_redirects=True).get_data(as_text=True)
    assert "was removed" in done and "No saved cards" in done
    assert _autopay(app, account_id)[:2] == (False, None)
    assert client.get(url).status_code == 404


@pytest.mark.backends
def test_another_clients_card_cannot_be_removed_nor_chosen(app, yookassa, two_clients):
    alpha, alpha_id = two_clients["alpha"]
    beta, beta_id = two_clients["beta"]
    _pay(alpha, yookassa, "1000", save_card=True)
    card_id = _card_id(app, alpha_id)
    url = f"/cabinet/billing/cards/{card_id}/remove"
    assert beta.get(url).status_code == 404
    assert _post(beta, url, {}, page=CARDS).status_code == 404
    chosen = _post(beta, CARDS, {"is_enabled": "y", "card_id": str(card_id)})
    assert chosen.status_code == 200 and "card_id" in _field_errors(chosen.get_data(as_text=True))
    assert _autopay(app, beta_id) is None
    assert "4444" not in beta.get(CARDS).get_data(as_text=True)
    assert "•••• 4444" in alpha.get(CARDS).get_data(as_text=True)
