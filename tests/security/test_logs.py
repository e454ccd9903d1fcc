"""No secrets or card data in the logs (issue 10 item 2): every log record written during log-ins (right and
wrong password), a paid top-up with a saved card, a refused YooKassa call and an untrusted webhook is searched
for the password, SECRET_KEY, the YooKassa secret key (plain and in its Basic-auth form), the MTT password and a
card number."""
from __future__ import annotations

import base64
import logging
import re

import pytest
from helpers import login

from app.extensions import db
from app.services import payments
from app.services.yookassa_gateway import PaymentError

PASSWORD = "Sw0rdfish-only-here"
SECRET_KEY = "flask-secret-key-never-logged-5b1"
MTT_PASSWORD = "mtt-password-never-logged-77"
CARD_NUMBER = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


@pytest.fixture
def app_overrides(yookassa):
    return yookassa.app_config(SECRET_KEY=SECRET_KEY, MTT_PASSWORD=MTT_PASSWORD)


def luhn_valid(digits: str) -> bool:
    total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10)) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def written(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def test_logins_and_payments_log_no_secret_and_no_card_number(app, client, make_client_user, yookassa, caplog):
    caplog.set_level(logging.DEBUG)
    _, account_id, email, _ = make_client_user(password=PASSWORD)
    login(client, email, "wrong-" + PASSWORD)
    login(client, email, PASSWORD)
    with app.app_context():
        payment = payments.start_topup(account_id, 50_000, "http://127.0.0.1/portal/billing/return", save_card=True,
                                       email=email, user_id=None)
        db.session.commit()
    assert yookassa.press(payment.confirmation_url, "Pay").status_code == 303
    assert [response.status_code for response in yookassa.deliver(client)] == [200]
    assert [response.status_code for response in yookassa.deliver(client)] == []
    yookassa.notifications.append({"type": "notification", "event": "payment.succeeded",
                                   "object": {"id": payment.provider_id}})
    yookassa.deliver(client, remote_addr="203.0.113.9")  # untrusted sender: refused and logged
    yookassa.fail_next(500)
    with app.app_context(), pytest.raises(PaymentError):
        payments.start_topup(account_id, 50_000, "http://127.0.0.1/x", save_card=False, email=email, user_id=None)

    text = written(caplog)
    assert "untrusted" in text and "YooKassa" in text  # the flows did log
    basic = base64.b64encode(f"{yookassa.shop_id}:{yookassa.secret_key}".encode()).decode()
    for secret in (PASSWORD, SECRET_KEY, MTT_PASSWORD, yookassa.secret_key, basic):
        assert secret not in text
    assert [run for run in CARD_NUMBER.findall(text) if luhn_valid(run)] == []
