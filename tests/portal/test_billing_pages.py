"""The cabinet's billing pages (C4, B1): balance and state, buying rent, the statement, its CSV, access."""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest
import sqlalchemy as sa
from helpers import csrf_token, login, set_global_setting

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, RentPeriod
from app.services import ledger
from app.services.permissions import CLIENT_DEFAULTS

_KEYS = itertools.count(1)


def _post(app, account_id: int, kind: str, amount_kop: int, memo: str, at: dt.datetime | None = None) -> None:
    with app.app_context():
        key = f"{kind}:test:{next(_KEYS)}"
        ledger.post(key, kind, [(ledger.client_account(account_id), amount_kop),
                                (ledger.system_account("system:test"), -amount_kop)], memo=memo)
        if at is not None:
            db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.key == key).values(created_at=at))
        db.session.commit()


def _balance(app, account_id: int) -> int:
    with app.app_context():
        return ledger.balance(account_id)


def _buy(client, months: str):
    html = client.get("/cabinet/billing").get_data(as_text=True)
    return client.post("/cabinet/billing", data={"csrf_token": csrf_token(html), "months": months},
                       follow_redirects=True)


def test_the_page_shows_the_balance_state_and_prices(two_clients):
    client, _ = two_clients["alpha"]
    page = client.get("/cabinet/billing").get_data(as_text=True)
    assert 'data-testid="balance">RUB100.00' in page
    assert 'data-state="trial"' in page and "Free trial until" in page
    assert 'data-testid="rent-month"' in page and "990.00 per month" in page
    assert 'name="months"' in page
    assert "12 mo. — RUB9,504.00" in page  # 20 % off 11,880
    assert "/cabinet/billing" in client.get("/cabinet/").get_data(as_text=True)


@pytest.mark.backends
def test_buying_one_month_debits_the_balance_and_shows_the_new_end(app, two_clients):
    client, account_id = two_clients["alpha"]
    _post(app, account_id, "payment", 100_000, "Top-up")
    page = _buy(client, "1").get_data(as_text=True)
    assert _balance(app, account_id) == 110_000 - 99_000
    with app.app_context():
        period = db.session.scalars(sa.select(RentPeriod).where(RentPeriod.account_id == account_id)).one()
        trial_end = db.session.get(Account, account_id).trial_ends_at
        assert period.months == 1 and period.starts_at == trial_end
    assert "Paid until" in page and str(period.ends_at.year) in page
    assert "then paid until" in page
    statement = client.get("/cabinet/billing/statement?kind=rent").get_data(as_text=True)
    assert "Rent, 1 month(s)" in statement


def test_insufficient_funds_changes_nothing_and_says_so(app, two_clients):
    client, account_id = two_clients["alpha"]
    response = _buy(client, "1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "does not cover" in page
    assert _balance(app, account_id) == 10_000
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RentPeriod)) == 0


def test_a_post_without_csrf_buys_nothing(app, two_clients):
    client, account_id = two_clients["alpha"]
    _post(app, account_id, "payment", 100_000, "Top-up")
    client.post("/cabinet/billing", data={"months": "1"})
    assert _balance(app, account_id) == 110_000


def test_the_statement_lists_the_gift_and_filters_by_kind_and_period(app, two_clients):
    client, account_id = two_clients["alpha"]
    _post(app, account_id, "payment", 5_000, "Old top-up", at=dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC))
    _post(app, account_id, "call", -300, "Call to +7 999", at=dt.datetime(2025, 2, 10, 12, tzinfo=dt.UTC))
    page = client.get("/cabinet/billing/statement").get_data(as_text=True)
    assert "Trial gift" in page and "Old top-up" in page and "Call to +7 999" in page
    assert page.index("Trial gift") < page.index("Call to +7 999") < page.index("Old top-up")  # newest first
    by_kind = client.get("/cabinet/billing/statement?kind=gift").get_data(as_text=True)
    assert "Trial gift" in by_kind and "Old top-up" not in by_kind and "Call to" not in by_kind
    january = client.get("/cabinet/billing/statement?from=2025-01-01&to=2025-01-31").get_data(as_text=True)
    assert "Old top-up" in january and "Call to" not in january and "Trial gift" not in january
    # a day in the account's zone (Moscow, UTC+3): 2025-02-10 21:30 UTC is already 11 February there
    _post(app, account_id, "sms", -50, "Late SMS", at=dt.datetime(2025, 2, 10, 21, 30, tzinfo=dt.UTC))
    feb10 = client.get("/cabinet/billing/statement?from=2025-02-10&to=2025-02-10").get_data(as_text=True)
    assert "Call to" in feb10 and "Late SMS" not in feb10
    assert "Late SMS" in client.get("/cabinet/billing/statement?from=2025-02-11&to=2025-02-11").get_data(as_text=True)


@pytest.mark.backends
def test_the_csv_exports_the_filtered_rows(app, two_clients):
    client, account_id = two_clients["alpha"]
    _post(app, account_id, "call", -1_234, "Call; with a semicolon", at=dt.datetime(2025, 2, 10, 12, tzinfo=dt.UTC))
    response = client.get("/cabinet/billing/statement?format=csv")
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Date (Europe/Moscow)", "Kind", "Description", "Amount, RUB", "Balance after, RUB"]
    assert rows[1][1:] == ["Gift", "Trial gift", "100,00", "87,66"]
    assert rows[2] == ["2025-02-10 15:00:00", "Call", "Call; with a semicolon", "-12,34", "-12,34"]
    only_calls = client.get("/cabinet/billing/statement?format=csv&kind=call").get_data().decode("utf-8-sig")
    assert "Trial gift" not in only_calls and "-12,34" in only_calls


@pytest.mark.backends
def test_another_accounts_entries_never_appear(app, two_clients):
    alpha, alpha_id = two_clients["alpha"]
    beta, beta_id = two_clients["beta"]
    _post(app, alpha_id, "payment", 7_000, "Alpha top-up")
    _post(app, beta_id, "call", -200, "Beta call")
    alpha_page = alpha.get("/cabinet/billing/statement").get_data(as_text=True)
    alpha_csv = alpha.get("/cabinet/billing/statement?format=csv").get_data(as_text=True)
    beta_page = beta.get("/cabinet/billing/statement").get_data(as_text=True)
    beta_csv = beta.get("/cabinet/billing/statement?format=csv").get_data(as_text=True)
    assert "Alpha top-up" in alpha_page and "Beta call" not in alpha_page
    assert "Alpha top-up" in alpha_csv and "Beta call" not in alpha_csv
    assert "Beta call" in beta_page and "Alpha top-up" not in beta_page
    assert "Beta call" in beta_csv and "Alpha top-up" not in beta_csv
    assert alpha_page.count("Trial gift") == 1 and alpha_csv.count("Trial gift") == 1
    assert 'data-testid="balance">RUB170.00' in alpha.get("/cabinet/billing").get_data(as_text=True)


def test_a_client_without_billing_view_gets_403(app, two_clients):
    client, _ = two_clients["alpha"]
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "billing.view"])
    assert client.get("/cabinet/billing").status_code == 403
    assert client.get("/cabinet/billing/statement").status_code == 403
    assert client.get("/cabinet/billing/statement?format=csv").status_code == 403
    assert 'data-testid="billing-link"' not in client.get("/cabinet/").get_data(as_text=True)


def test_the_dashboard_links_to_the_billing_pages(two_clients):
    client, _ = two_clients["alpha"]
    assert 'data-testid="billing-link"' in client.get("/cabinet/").get_data(as_text=True)


def test_staff_are_sent_to_the_back_office(app, make_staff_user):
    _, email, password = make_staff_user("manager")
    staff = app.test_client()
    login(staff, email, password)
    for url in ("/cabinet/billing", "/cabinet/billing/statement"):
        assert staff.get(url).headers["Location"].endswith("/admin/")


def test_strangers_are_sent_to_log_in(client):
    assert "/login" in client.get("/cabinet/billing").headers["Location"]


def test_an_expired_account_can_still_open_the_billing_pages_and_pay(app, two_clients):
    client, account_id = two_clients["alpha"]
    with app.app_context():
        db.session.get(Account, account_id).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
    page = client.get("/cabinet/billing")
    assert page.status_code == 200 and 'data-state="expired"' in page.get_data(as_text=True)
    assert client.get("/cabinet/billing/statement").status_code == 200
    _post(app, account_id, "payment", 100_000, "Top-up")
    assert "Paid until" in _buy(client, "1").get_data(as_text=True)
    assert 'data-state="active"' in client.get("/cabinet/billing").get_data(as_text=True)
