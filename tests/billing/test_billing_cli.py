"""`flask billing renew` and `flask billing statement --account ID [--json]`."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from app.db import utcnow
from app.extensions import db
from app.models import Account, Tariff
from app.services import ledger, rent

MONTH_KOP = 40_000


@pytest.fixture
def rent_cli_account(app, make_client_user):
    """An account (trial over) with a month bought that ends in 30 minutes and money for one more month."""
    with app.app_context():
        db.session.add(Tariff(name="CLI test", effective_from=dt.datetime(2026, 1, 1, 0, 0, 2, tzinfo=dt.UTC),
                              rent_month_kop=MONTH_KOP, rent_discounts={}, sms_retail_kop=0, sms_cost_kop=0))
        db.session.commit()
    _, account_id, _, _ = make_client_user()
    ends_at = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    with app.app_context():
        starts_at = rent.add_months(ends_at, -1)
        db.session.get(Account, account_id).trial_ends_at = starts_at
        amount = 2 * MONTH_KOP - ledger.balance(account_id)
        ledger.post(f"test-cli-topup:{account_id}", "topup", [
            (ledger.client_account(account_id), amount), (ledger.system_account("system:test-payments"), -amount)],
            memo="Bank transfer")
        rent.buy(account_id, 1, now=starts_at)
        db.session.commit()
    return account_id, ends_at


def test_renew_runs_the_due_renewals_and_says_what_happened(app, rent_cli_account):
    account_id, ends_at = rent_cli_account
    runner = app.test_cli_runner()

    first = runner.invoke(args=["billing", "renew"])
    second = runner.invoke(args=["billing", "renew"])

    assert first.exit_code == 0, first.output
    assert f"account {account_id}: renewed from {ends_at.isoformat()}" in first.output
    assert "1 renewed, 1 due" in first.output
    assert second.exit_code == 0 and "0 renewed, 0 due" in second.output
    with app.app_context():
        assert ledger.balance(account_id) == 0


def test_statement_json_is_one_object_of_entries_oldest_first(app, rent_cli_account):
    account_id, ends_at = rent_cli_account
    runner = app.test_cli_runner()
    runner.invoke(args=["billing", "renew"])

    result = runner.invoke(args=["billing", "statement", "--account", str(account_id), "--json"])

    assert result.exit_code == 0, result.output
    statement = json.loads(result.output)
    assert set(statement) == {"balance_kop", "entries"} and statement["balance_kop"] == 0
    entries = statement["entries"]
    assert all(set(entry) == {"at", "key", "kind", "amount_kop", "memo"} for entry in entries)
    assert [entry["kind"] for entry in entries] == ["gift", "topup", "rent", "rent"]
    assert entries[0]["key"] == f"gift:{account_id}"
    assert entries[-1] == {"at": entries[-1]["at"], "key": f"rent:{account_id}:{ends_at.isoformat()}",
                           "kind": "rent", "amount_kop": -MONTH_KOP, "memo": "Rent renewed, 1 month"}
    assert sum(entry["amount_kop"] for entry in entries) == statement["balance_kop"]
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    dt.datetime.fromisoformat(entries[0]["at"])


def test_statement_text_is_a_table(app, rent_cli_account):
    account_id, _ = rent_cli_account
    result = app.test_cli_runner().invoke(args=["billing", "statement", "--account", str(account_id)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["at", "kind"] and lines[-1].split() == ["balance", str(MONTH_KOP)]
    assert any("Bank transfer" in line and "topup" in line for line in lines)


def test_statement_of_an_unknown_account_fails(app):
    result = app.test_cli_runner().invoke(args=["billing", "statement", "--account", "999999", "--json"])
    assert result.exit_code != 0 and "no account 999999" in result.output
