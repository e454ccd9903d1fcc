"""The cabinet's billing pages (C4, B1): balance, account state, buying rent, the statement and its CSV.

Not guarded by `requires_running_service`: an expired client must be able to come here and pay. Every query
is scoped to the logged-in client's own ledger account (`ledger_account.account_id`).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField

from app.extensions import db
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction, RentPeriod
from app.portal import _client_account, bp
from app.services import DomainError, account_state, ledger, permissions, rent, tariffs

FEATURE = "billing.view"
KINDS = {
    "gift": _l("Gift"),
    "call": _l("Call"),
    "sms": _l("SMS"),
    "rent": _l("Rent"),
    "payment": _l("Payment"),
    "refund": _l("Refund"),
    "adjust": _l("Adjustment"),
    "invoice": _l("Invoice"),
}
PAGE_ROWS = 500  # the HTML statement shows the newest rows; the CSV has every filtered row


def _billing_account():
    """The client's account if the user may see billing: staff go to the back office, no key → 403."""
    account = _client_account()
    if FEATURE not in permissions.features_of(current_user):
        abort(403)
    return account


class BuyRentForm(FlaskForm):
    months = SelectField(_l("Months"), coerce=int)


def _buy_form(tariff) -> BuyRentForm:
    form = BuyRentForm()
    form.months.choices = [] if tariff is None else [
        (months, _("%(months)d mo. — %(price)s", months=months, price=_money(rent.price_of(months, tariff))))
        for months in range(rent.MIN_MONTHS, rent.MAX_MONTHS + 1)]
    return form


def _money(kop: int) -> str:
    from app.templating import money

    return money(kop)


def _tariff_or_none():
    try:
        return tariffs.current_tariff()
    except DomainError:
        return None


def _paid_end(account_id: int) -> dt.datetime | None:
    """The end of the last rent period bought or renewed (periods follow each other), if any."""
    return db.session.scalar(sa.select(sa.func.max(RentPeriod.ends_at)).where(RentPeriod.account_id == account_id))


def _state_text(status: account_state.AccountStatus, paid_end: dt.datetime | None) -> str:
    state = status.state
    if state is account_state.State.EXPIRED:
        return _("The rent has ended: the widget only forwards requests. Buy rent to resume calls.")
    if state is account_state.State.NEGATIVE:
        return _("Negative balance: the widget only forwards requests until the balance is topped up.")
    if state is account_state.State.ACTIVE:
        return _("Paid until %(date)s", date=format_datetime(paid_end or status.runs_until, "medium"))
    if paid_end is not None and paid_end > status.trial_ends_at:
        return _("Free trial until %(trial)s, then paid until %(date)s",
                 trial=format_datetime(status.trial_ends_at, "medium"), date=format_datetime(paid_end, "medium"))
    return _("Free trial until %(date)s", date=format_datetime(status.trial_ends_at, "medium"))


@bp.route("/billing", methods=["GET", "POST"])
@login_required
def billing():
    """Balance, state, the tariff's monthly rent and the form to buy or extend the rent (B1)."""
    account = _billing_account()
    tariff = _tariff_or_none()
    form = _buy_form(tariff)
    if tariff is not None and form.validate_on_submit():
        try:
            period = rent.buy(account.id, form.months.data)
        except DomainError as exc:
            db.session.rollback()
            if exc.code == "insufficient_funds":
                flash(_("The balance does not cover %(price)s for %(months)d month(s): top it up first.",
                        price=_money(rent.price_of(form.months.data, tariff)), months=form.months.data), "error")
            else:
                flash(_("The rent could not be bought: %(reason)s", reason=str(exc)), "error")
        else:
            db.session.commit()
            flash(_("Paid until %(date)s", date=format_datetime(period.ends_at, "medium")), "success")
            return redirect(url_for(".billing"))
    status = account_state.status_of(account.id)
    state_text = _state_text(status, _paid_end(account.id))
    return render_template("portal/billing.html", account=account, status=status, state_text=state_text,
                           tariff=tariff, form=form)


def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _zone(account) -> ZoneInfo:
    try:
        return ZoneInfo(account.timezone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _statement_query(account, kind: str | None, date_from: dt.date | None, date_to: dt.date | None):
    """The account's entries with the balance after each, newest first; dates are days in the account's zone."""
    running = sa.cast(sa.func.sum(LedgerEntry.amount_kop).over(order_by=(LedgerTransaction.created_at, LedgerEntry.id)),
                      sa.BigInteger)  # PostgreSQL's sum of bigint is numeric
    rows = (
        sa.select(LedgerEntry.id.label("id"), LedgerTransaction.created_at.label("at"),
                  LedgerTransaction.kind.label("kind"), LedgerTransaction.memo.label("memo"),
                  LedgerEntry.amount_kop.label("amount_kop"), running.label("balance_kop"))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account.id)
        .subquery()
    )
    query = sa.select(rows)
    zone = _zone(account)
    if kind:
        query = query.where(rows.c.kind == kind)
    if date_from:
        query = query.where(rows.c.at >= dt.datetime.combine(date_from, dt.time(), zone).astimezone(dt.UTC))
    if date_to:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
        query = query.where(rows.c.at < end)
    return query.order_by(rows.c.at.desc(), rows.c.id.desc())


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _rub(kop: int) -> str:
    """Kopecks as roubles with a comma decimal, e.g. -990,00 (for the CSV)."""
    sign = "-" if kop < 0 else ""
    return f"{sign}{abs(kop) // 100},{abs(kop) % 100:02d}"


@bp.get("/billing/statement")
@login_required
def billing_statement():
    """The client's ledger entries, newest first; filters by kind and by days in the account's time zone."""
    account = _billing_account()
    kind = request.args.get("kind") or None
    if kind not in KINDS:
        kind = None
    date_from, date_to = _parse_date(request.args.get("from")), _parse_date(request.args.get("to"))
    query = _statement_query(account, kind, date_from, date_to)
    zone = _zone(account)
    if request.args.get("format") == "csv":
        return _csv(db.session.execute(query).all(), zone, account)
    rows = db.session.execute(query.limit(PAGE_ROWS + 1)).all()
    return render_template("portal/billing_statement.html", account=account, rows=rows[:PAGE_ROWS],
                           truncated=len(rows) > PAGE_ROWS, kinds=KINDS, kind=kind, date_from=date_from,
                           date_to=date_to, zone=zone.key, balance_kop=ledger.balance(account.id),
                           csv_url=url_for(".billing_statement", **{**request.args.to_dict(), "format": "csv"}))


def _csv(rows, zone: ZoneInfo, account) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 BOM: Excel then reads the file as UTF-8
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([_("Date (%(zone)s)", zone=zone.key), _("Kind"), _("Description"),
                     _("Amount, RUB"), _("Balance after, RUB")])
    for row in rows:
        writer.writerow([_as_utc(row.at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                         str(KINDS.get(row.kind, row.kind)), row.memo, _rub(row.amount_kop), _rub(row.balance_kop)])
    filename = f"statement-{account.client_code}.csv"
    return Response(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
