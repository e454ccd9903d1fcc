"""The cabinet's call log page and its CSV export (C3, C7), on the `portal` blueprint.

Needs the `stats.view` feature (403 otherwise) and a running service (`requires_running_service`: an expired
account gets the rent-ended page). Filters come as a GET form: `from`/`to` are local days in the account's
time zone (both included), `site`, `status`, `outcome`, `source`, `line`, `number` (digits as typed), `cursor`.
A site or a line of another account answers 404. The CSV is UTF-8 with a BOM (Excel), `;`-separated (the list
separator of Russian Excel), CRLF, streamed in keyset batches of the same filtered set the page shows.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.extensions import db
from app.guards import requires_running_service
from app.models import ManagerLine, Site
from app.models.callback import RequestStatus
from app.portal import _client_account, bp
from app.services import call_log, permissions

FEATURE = "stats.view"
FILTER_ARGS = ("from", "to", "site", "status", "outcome", "source", "line", "number")
OUTCOMES = {"success": _l("Talked"), "manager_no_answer": _l("No manager answered"),
            "client_no_answer": _l("The visitor did not answer"), "failed": _l("Not placed")}
STATUSES = {status.value: status.value.replace("_", " ") for status in RequestStatus}


def _calls_account():
    account = _client_account()
    if FEATURE not in permissions.features_of(current_user):
        abort(403)
    return account


def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _filters(account) -> tuple[call_log.Filters, dict]:
    """The filters of the query string, checked against the account; 404 for another account's site or line."""
    zone = ZoneInfo(account.timezone)
    args = request.args
    date_from, date_to = _parse_date(args.get("from")), _parse_date(args.get("to"))
    start = dt.datetime.combine(date_from, dt.time(), zone).astimezone(dt.UTC) if date_from else None
    end = (dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
           if date_to else None)
    site_id, line_id = _parse_int(args.get("site")), _parse_int(args.get("line"))
    if site_id is not None:
        site = db.session.get(Site, site_id)
        if site is None or site.account_id != account.id:
            abort(404)
    if line_id is not None:
        line = db.session.get(ManagerLine, line_id)
        if line is None or line.account_id != account.id:
            abort(404)
    status = args.get("status") if args.get("status") in STATUSES else None
    outcome = args.get("outcome") if args.get("outcome") in OUTCOMES else None
    source = (args.get("source") or "").strip()[:16] or None
    number = (args.get("number") or "").strip()[:40] or None
    filters = call_log.Filters(start=start, end=end, site_id=site_id, status=status, outcome=outcome,
                               source=source, line_id=line_id, number=number)
    shown = {"from": date_from, "to": date_to, "site": site_id, "status": status, "outcome": outcome,
             "source": source or "", "line": line_id, "number": number or ""}
    return filters, shown


def _filter_args() -> dict[str, str]:
    return {key: request.args[key] for key in FILTER_ARGS if request.args.get(key)}


@bp.get("/calls")
@requires_running_service
def calls_page():
    """The call log, newest first, one keyset page at a time."""
    account = _calls_account()
    filters, shown = _filters(account)
    try:
        current = call_log.page(account.id, account.timezone, filters, request.args.get("cursor") or None)
    except call_log.BadCursor:
        abort(400)
    next_url = (url_for(".calls_page", **_filter_args(), cursor=current.next_cursor)
                if current.next_cursor else None)
    lines = db.session.scalars(sa.select(ManagerLine).where(ManagerLine.account_id == account.id)
                               .order_by(ManagerLine.id)).all()
    return render_template("portal/calls.html", rows=current.rows, next_url=next_url, shown=shown,
                           first_url=url_for(".calls_page", **_filter_args()) if request.args.get("cursor") else None,
                           csv_url=url_for(".calls_csv", **_filter_args()), sites=account.sites, lines=lines,
                           statuses=STATUSES, outcomes=OUTCOMES, zone=account.timezone)


def _csv_header(zone: str) -> list[str]:
    return [_("Time (%(zone)s)", zone=zone), _("Site"), _("Widget page"), _("Source"), _("Keyword"),
            _("Client number"), _("Manager"), _("Manager number"), _("Duration, s"), _("IP address"),
            _("Region"), _("Status"), _("Outcome")]


def _text(value: str) -> str:
    """Free text (much of it typed or sent by visitors) that a spreadsheet would read as a formula gets a `'`."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_cells(row: call_log.Row) -> list[str]:
    return [row.local_time.strftime("%Y-%m-%d %H:%M:%S"), _text(row.site_name), _text(row.page_url),
            _text(row.source), _text(row.keyword), row.phone_display, _text(row.manager_name), row.manager_number,
            "" if row.duration_s is None else str(row.duration_s), row.ip, _text(row.region), row.status,
            str(OUTCOMES.get(row.outcome, row.outcome))]


@bp.get("/calls.csv")
@requires_running_service
def calls_csv():
    """The filtered log as CSV, streamed: one line written and sent at a time, rows fetched in keyset batches."""
    account = _calls_account()
    filters, _shown = _filters(account)
    account_id, zone = account.id, account.timezone

    def generate():
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(_csv_header(zone))
        yield "\ufeff" + out.getvalue()  # UTF-8 BOM: Excel then reads the file as UTF-8
        for row in call_log.iter_rows(account_id, zone, filters):
            out.seek(0)
            out.truncate()
            writer.writerow(_csv_cells(row))
            yield out.getvalue()

    filename = f"calls-{account.client_code}.csv"
    return Response(stream_with_context(generate()), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
