"""Command-line tools: `flask --app wsgi users create ...`, `demo seed [--json]`, `billing renew|statement`,
`yookassa-sandbox`, `mtt-sandbox`, `erase-phone NUMBER [--dry-run]`."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.config import PROJECT_ROOT
from app.db import utcnow
from app.extensions import db
from app.models import (
    Account,
    Department,
    Invoice,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    ManagerLine,
    RentPeriod,
    Setting,
)
from app.services import (
    accounts,
    adjustments,
    erasure,
    invoices,
    ledger,
    notifications,
    notify_events,
    permissions,
    phones,
    rent,
    site_settings,
    sites,
    tariffs,
)
from app.services import settings as global_settings
from app.services.accounts import AccountError
from app.services.audit import acting_as
from app.services.lines import check_line

users_cli = AppGroup("users", help="Manage users.")
demo_cli = AppGroup("demo", help="Demo data for trying the service.")
billing_cli = AppGroup("billing", help="Rent renewals and statements.")

# Demo-only credentials, printed by `demo seed`; a real installation creates its staff with `users create`.
DEMO_PASSWORDS = {"admin": "demo-admin-pass", "manager": "demo-manager-pass", "client": "demo-client-pass",
                  "lowbalance": "demo-lowbalance-pass"}
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
    low = _ensure_client("lowbalance", "Demo Low Balance")
    db.session.commit()
    admin = accounts.find_user(DEMO_EMAILS["admin"])
    _demo_notifications(client.account.id, low.account.id, admin.id)
    result = {role: {"email": DEMO_EMAILS[role], "password": DEMO_PASSWORDS[role]} for role in DEMO_PASSWORDS}
    result.update(account_id=client.account.id, client_id=client.account.client_code,
                  lowbalance_account_id=low.account.id,
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


def _ensure_client(role: str = "client", company: str = "Demo Company"):
    user = accounts.find_user(DEMO_EMAILS[role])
    if user is None:
        return accounts.signup(DEMO_EMAILS[role], DEMO_PASSWORDS[role], company)
    return _ensure_user(role)


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


# Every notification kind the demo can show on the back office's page of sent mail and SMS comes from a real
# event, done once through the services (their ledger keys and the notices' dedup keys make re-runs no-ops):
# the client account gets an administrator's credit (topup), a bank invoice issued and marked paid
# (invoice_issued, invoice_paid and its topup) and a month of rent bought from the balance (rent_renewed), and
# chooses "instant" spending letters, so each demo call and SMS it pays for is mailed (spending; the seed
# charges no call: a charge without a call would be a made-up ledger row); the low-balance account (the 100 RUB
# gift is below the 150 RUB default threshold) has its trial kept ending within 5 days and its daily checks run
# at a moment inside its sending hours (low_balance, rent_ending). Calls made in the demo add the rest.
DEMO_CREDIT_KOP, DEMO_INVOICE_KOP, DEMO_RENT_MONTHS, DEMO_TRIAL_LEFT = 50_000, 100_000, 1, dt.timedelta(days=5)
DEMO_COMPANY = {"name": "ООО «Демо-клиент»", "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
                "address": "117997, г. Москва, ул. Вавилова, д. 19", "bank_name": "Демо-банк",
                "bik": "049805746", "correspondent_account": "30101810800000000746",
                "settlement_account": "40602810700000000025"}


def _demo_notifications(client_id: int, low_id: int, admin_id: int) -> list[str]:
    """The events behind the notices (see above); each step committed on its own. Returns what it did."""
    done = []
    credit_key = f"adjust:{uuid.uuid5(uuid.NAMESPACE_URL, f'callback-demo-credit:{client_id}')}"
    if adjustments.adjust(client_id, DEMO_CREDIT_KOP, "Demo: credit by the administrator", admin_id,
                          key=credit_key).created:
        done.append("administrator credit")
    db.session.commit()
    if invoices.company_details(client_id) is None:
        invoices.save_company_details(client_id, **DEMO_COMPANY)
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == client_id).order_by(Invoice.id))
    if invoice is None:
        invoice = invoices.issue(client_id, DEMO_INVOICE_KOP)
        done.append(f"invoice {invoice.number} issued")
    if invoice.status == invoices.ISSUED:
        invoices.mark_paid(invoice.id, admin_id)
        done.append(f"invoice {invoice.number} paid")
    db.session.commit()
    has_rent = db.session.scalar(sa.select(RentPeriod.id).where(RentPeriod.account_id == client_id).limit(1))
    if has_rent is None and ledger.balance(client_id) >= rent.price_of(DEMO_RENT_MONTHS,
                                                                        tariffs.current_tariff()):
        rent.buy(client_id, DEMO_RENT_MONTHS)
        done.append("rent bought")
    if not notifications.preference(client_id, "spending").locked:  # an administrator's lock is kept
        if notifications.preference(client_id, "spending").frequency != "instant":
            notifications.set_preference(client_id, "spending", enabled=True, frequency="instant")
    db.session.commit()
    done += _demo_low_balance(low_id)
    return done


def _demo_low_balance(account_id: int) -> list[str]:
    done = []
    now = utcnow()
    end = notify_events.service_end(account_id)
    has_rent = db.session.scalar(sa.select(RentPeriod.id).where(RentPeriod.account_id == account_id).limit(1))
    if has_rent is None and (end is None or not now + dt.timedelta(days=1) < end <= now + DEMO_TRIAL_LEFT):
        # The trial is the demo's (no rent bought): kept ending in a few days, as the back office's account
        # form sets it (there is no service function for it).
        db.session.get(Account, account_id).trial_ends_at = now + DEMO_TRIAL_LEFT
        done.append("trial set to end in 5 days")
    db.session.commit()
    done += notify_events.daily_checks(account_id, in_sending_hours(account_id, now))
    db.session.commit()
    return done


def in_sending_hours(account_id: int, now: dt.datetime) -> dt.datetime:
    """`now` if the account's local time is within the daily notices' sending hours, else the latest moment
    before it that is (21:00 local), so the seed's daily checks send at any hour."""
    zone = notify_events.zone_of(db.session.get(Account, account_id).timezone)
    local = now.astimezone(zone)
    if notify_events.SEND_HOUR <= local.hour < notify_events.SEND_UNTIL_HOUR:
        return now
    day = local.date() - dt.timedelta(days=1 if local.hour < notify_events.SEND_HOUR else 0)
    return dt.datetime.combine(day, dt.time(notify_events.SEND_UNTIL_HOUR - 1), zone).astimezone(dt.UTC)


def _as_text(result: dict) -> str:
    lines = [f"{role:10} {result[role]['email']}  password: {result[role]['password']}" for role in DEMO_PASSWORDS]
    lines += [f"client ID {result['client_id']} (account {result['account_id']}); low-balance account "
              f"{result['lowbalance_account_id']}",
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


@click.command("erase-phone")
@click.argument("number")
@click.option("--country", default="RU", show_default=True, help="How a number typed without + is read.")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@with_appcontext
def erase_phone(number: str, country: str, dry_run: bool) -> None:
    """Erase a visitor's phone NUMBER on the owner's request (152-FZ): docs/security.md."""
    try:
        result = erasure.erase(number, dry_run=dry_run, country=country.upper())
    except phones.InvalidPhone as exc:
        raise click.ClickException(f"{number!r}: {exc}") from exc
    verb = "would replace" if dry_run else "replaced"
    click.echo(f"{result.number} → {result.pseudonym} (kept: {', '.join(erasure.KEPT_TABLES)})")
    for table, count in result.changed.items():
        click.echo(f"{table}: {verb} in {count} row(s)")
    if not result.changed:
        click.echo("nothing to erase")
