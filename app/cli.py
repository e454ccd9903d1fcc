"""Command-line tools: `flask --app wsgi users create ...`, `demo seed [--json]`, `billing renew|statement`,
`yookassa-sandbox`, `mtt-sandbox`."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import Account, Department, LedgerAccount, LedgerEntry, LedgerTransaction, ManagerLine, Setting
from app.services import accounts, ledger, permissions, rent, site_settings, sites
from app.services import settings as global_settings
from app.services.accounts import AccountError
from app.services.audit import acting_as
from app.services.lines import check_line

users_cli = AppGroup("users", help="Manage users.")
demo_cli = AppGroup("demo", help="Demo data for trying the service.")
billing_cli = AppGroup("billing", help="Rent renewals and statements.")

# Demo-only credentials, printed by `demo seed`; a real installation creates its staff with `users create`.
DEMO_PASSWORDS = {"admin": "demo-admin-pass", "manager": "demo-manager-pass", "client": "demo-client-pass"}
DEMO_EMAILS = {role: f"{role}@demo.example.com" for role in DEMO_PASSWORDS}


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "client"]), required=True)
@click.option("--account", "account_id", type=int, help="The account of a client user.")
def create_user(email: str, password: str, role: str, account_id: int | None) -> None:
    with acting_as("cli:users create"):
        _create_user(email, password, role, account_id)


def _create_user(email: str, password: str, role: str, account_id: int | None) -> None:
    try:
        user = accounts.create_user(email, password, role, account_id)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@demo_cli.command("seed")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def seed(as_json: bool) -> None:
    """Create (or refresh) an administrator, a manager and a client account with a demo site. Idempotent."""
    with acting_as("cli:demo seed"):
        result = _seed()
    click.echo(json.dumps(result) if as_json else _as_text(result))


def _seed() -> dict:
    for role in ("admin", "manager"):
        _ensure_user(role)
    client = _ensure_client()
    site = client.account.sites[0] if client.account.sites else _demo_site(client.account)
    _demo_setup(client.account, site)
    db.session.commit()
    result = {role: {"email": DEMO_EMAILS[role], "password": DEMO_PASSWORDS[role]} for role in DEMO_PASSWORDS}
    result.update(account_id=client.account.id, client_id=client.account.client_code,
                  site_key=site.public_key, site_origin=current_app.config["PUBLIC_URL"])
    return result


def _ensure_user(role: str):
    user = accounts.find_user(DEMO_EMAILS[role])
    if user is None:
        return accounts.create_user(DEMO_EMAILS[role], DEMO_PASSWORDS[role], role)
    if not _password_is(user, role):
        accounts.set_password(user, DEMO_PASSWORDS[role])
    return user


def _password_is(user, role: str) -> bool:
    from werkzeug.security import check_password_hash

    return check_password_hash(user.password_hash, DEMO_PASSWORDS[role])


def _ensure_client():
    user = accounts.find_user(DEMO_EMAILS["client"])
    if user is None:
        return accounts.signup(DEMO_EMAILS["client"], DEMO_PASSWORDS["client"], "Demo Company")
    return _ensure_user("client")


def _demo_site(account):
    public = current_app.config["PUBLIC_URL"]
    port = urlsplit(public).port or current_app.config["PORT"]
    origins = [public, f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    return sites.create_site(account, "Demo site", origins)


# The demo's manager lines: (name, number, department, is_routed_by_department, is_name_in_sms). The MTT sandbox
# `make run` starts answers every number except those in DEMO_SANDBOX_RULES, so "Отдел продаж" (and "any office")
# is answered by Анна and the visitor talks to her; "Склад" rings one line that never answers: the missed-call
# e-mail. Tests load the same rules into their sandbox (tests/dialer/test_demo_seed_dials.py).
DEMO_SALES, DEMO_WAREHOUSE = "Отдел продаж", "Склад"
DEMO_LINES = [("Анна", "+79161234567", DEMO_SALES, False, True),
              ("Борис", "+79261234567", DEMO_SALES, False, False),
              ("Вера", "+74951234567", DEMO_SALES, False, False),
              ("Дежурный склада", "+74957654321", DEMO_WAREHOUSE, True, False)]
DEMO_SANDBOX_RULES = PROJECT_ROOT / "dialer" / "sandbox" / "demo_rules.json"
ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00:00", "closes_at": "00:00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _demo_department(account, name: str):
    department = db.session.scalar(sa.select(Department).where(Department.account_id == account.id,
                                                              Department.name == name))
    if department is None:
        department = Department(account_id=account.id, name=name)
        db.session.add(department)
        db.session.flush()
    return department


def _demo_setup(account, site) -> None:
    """Manager lines in two departments offered as offices, a 24/7 schedule, the SMS after a call (D10), a
    missed-call address (D12), and one feature opened. Lines already there keep their number and get the demo's
    department and flags back."""
    departments = {name: _demo_department(account, name) for name in (DEMO_SALES, DEMO_WAREHOUSE)}
    known = {line.number: line for line in db.session.scalars(
        sa.select(ManagerLine).where(ManagerLine.account_id == account.id))}
    for name, number, department, is_routed, is_name_in_sms in DEMO_LINES:
        line = known.get(number)
        if line is None:
            line = ManagerLine(account_id=account.id, number=number, manager_name=name)
            db.session.add(line)
        line.department = departments[department]
        line.is_routed_by_department, line.is_name_in_sms, line.is_active = is_routed, is_name_in_sms, True
        check_line(line)
    db.session.flush()
    site_settings.save(account.id, site.id, {
        "schedule": ALWAYS_OPEN, "missed_call_email": DEMO_EMAILS["client"], "is_sms_after_call": True,
        "is_office_choice_offered": True, "offered_department_ids": [d.id for d in departments.values()]})
    permissions.set_account_permission(account.id, "widget.design.edit", True)
    _demo_limits()


# Every demo visitor comes from 127.0.0.1: with the default abuse limit (3 distinct numbers an hour per address)
# a few tries with different numbers would lock the demo for an hour. Set once, so a value the administrator
# changes in the global settings survives the next `make run`; the per-number and per-session limits stay.
DEMO_LIMITS = {"limit_ip_numbers_per_hour": 30}


def _demo_limits() -> None:
    for key, value in DEMO_LIMITS.items():
        if db.session.get(Setting, key) is None:
            global_settings.set_setting(key, value)


def _as_text(result: dict) -> str:
    lines = [f"{role:8} {result[role]['email']}  password: {result[role]['password']}" for role in DEMO_PASSWORDS]
    lines += [f"client ID {result['client_id']} (account {result['account_id']})",
              f"site key  {result['site_key']}  origin {result['site_origin']}"]
    return "\n".join(lines)


@billing_cli.command("renew")
def renew() -> None:
    """Renew now every rent period that is due (what the hourly `billing.renew` task does)."""
    with acting_as("cli:billing renew"):
        results = rent.renew_due()
        db.session.commit()
    for result in results:
        click.echo(f"account {result.account_id}: {result.outcome.value} from {result.starts_at.isoformat()} "
                   f"price {result.price_kop} kop, balance {result.balance_kop} kop")
    click.echo(f"{sum(r.outcome is rent.Renewal.RENEWED for r in results)} renewed, {len(results)} due")


@billing_cli.command("statement")
@click.option("--account", "account_id", type=int, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def statement(account_id: int, as_json: bool) -> None:
    """A client account's balance and ledger entries, oldest first."""
    if db.session.get(Account, account_id) is None:
        raise click.ClickException(f"no account {account_id}")
    rows = db.session.execute(
        sa.select(LedgerTransaction.created_at, LedgerTransaction.key, LedgerTransaction.kind,
                  LedgerEntry.amount_kop, LedgerTransaction.memo)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account_id)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)).all()
    result = {"balance_kop": ledger.balance(account_id),
              "entries": [{"at": at.isoformat(), "key": key, "kind": kind, "amount_kop": amount, "memo": memo}
                          for at, key, kind, amount, memo in rows]}
    click.echo(json.dumps(result, ensure_ascii=False) if as_json else _statement_text(result))


def _statement_text(result: dict) -> str:
    lines = [f"{'at':25} {'kind':10} {'amount, kop':>12}  key / memo"]
    lines += [f"{entry['at'][:25]:25} {entry['kind']:10} {entry['amount_kop']:>12}  {entry['key']}"
              + (f" / {entry['memo']}" if entry["memo"] else "") for entry in result["entries"]]
    lines.append(f"{'balance':36} {result['balance_kop']:>12}")
    return "\n".join(lines)


@click.command("yookassa-sandbox")
@click.option("--port", type=int, help="Default: YOOKASSA_SANDBOX_PORT (5060).")
@click.option("--webhook", help="Where notifications go. Default: PUBLIC_URL/hooks/yookassa.")
def yookassa_sandbox(port: int | None, webhook: str | None) -> None:
    """Run the fake YooKassa API and checkout page on loopback (what `make run` starts as `payments`).

    With YOOKASSA_SHOP_ID set the service talks to the real YooKassa: no sandbox is started, and the command
    only waits, so that honcho (which stops everything when one process exits) keeps the others running.
    """
    import os
    import threading

    from dialer.sandbox.yookassa import FakeYooKassa

    if os.environ.get("YOOKASSA_SHOP_ID"):
        click.echo("YOOKASSA_SHOP_ID is set: the real YooKassa is used, no sandbox started")
        threading.Event().wait()
    config = current_app.config
    fake = FakeYooKassa(config["YOOKASSA_SHOP_ID"], config["YOOKASSA_SECRET_KEY"],
                        port=port or config["YOOKASSA_SANDBOX_PORT"],
                        webhook_url=webhook or f"{config['PUBLIC_URL']}/hooks/yookassa")
    click.echo(f"YooKassa sandbox on {fake.api_url}, notifications to {fake.webhook_url}")
    fake.serve_forever()


@click.command("mtt-sandbox")
@click.option("--port", type=int, help="Default: MTT_SANDBOX_PORT (5050).")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False), help="JSON rules: how numbers behave.")
@click.option("--time-scale", type=float, help="Default: MTT_SANDBOX_TIME_SCALE (1: real time).")
def mtt_sandbox(port: int | None, rules: str | None, time_scale: float | None) -> None:
    """Run the MTT sandbox on loopback with the MTT_* credentials (what `make run` starts as `mtt`).

    With MTT_API_URL set the service talks to the real MTT: no sandbox is started, and the command only waits,
    so that honcho (which stops everything when one process exits) keeps the other processes running.
    """
    import threading

    from dialer.sandbox.mtt import MttSandbox

    config = current_app.config
    if not config["MTT_IS_SANDBOX"]:
        print(f"MTT_API_URL is set ({config['MTT_API_URL']}): no MTT sandbox started", flush=True)
        threading.Event().wait()
        return
    sandbox = MttSandbox(login=config["MTT_LOGIN"], password=config["MTT_PASSWORD"],
                         customer_name=config["MTT_CUSTOMER_NAME"], sms_token=config["MTT_SMS_TOKEN"],
                         time_scale=time_scale or config["MTT_SANDBOX_TIME_SCALE"],
                         port=port or config["MTT_SANDBOX_PORT"])
    if rules:
        sandbox.load_rules(rules)
    sandbox.start()
    print(f"MTT sandbox: API {sandbox.api_url}  SMS {sandbox.sms_url}  page {sandbox.base_url}/_sandbox", flush=True)
    try:
        threading.Event().wait()
    finally:
        sandbox.stop()
