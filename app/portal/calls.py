"""The cabinet's call log page and its CSV and XLSX exports (C3, C7), on the `portal` blueprint.

Needs the `stats.view` feature (403 otherwise) and a running service (`requires_running_service`: an expired
account gets the rent-ended page). Filters come as a GET form: `from`/`to` are local days in the account's
time zone (both included), `site`, `status`, `outcome`, `source`, `line`, `number` (digits as typed); `sort`
(`call_log.SORTS`, unknown → newest first) and `cursor` (a cursor of another sort → 400). A site or a line of
another account answers 404. The CSV is UTF-8 with a BOM (Excel), `;`-separated (the list separator of Russian
Excel), CRLF, streamed in keyset batches of the same filtered, sorted set the page shows; the XLSX is the same
set written by openpyxl's write-only mode into a temporary file, then sent.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, abort, render_template, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from app.extensions import db
from app.guards import requires_running_service
from app.models import ManagerLine, Site
from app.portal import _client_account, bp
from app.services import call_log, permissions, stats

FEATURE = "stats.view"
FILTER_ARGS = ("from", "to", "site", "status", "outcome", "source", "line", "number", "sort")
OUTCOMES = {"success": _l("Talked"), "manager_no_answer": _l("No manager answered"),
            "client_no_answer": _l("The visitor did not answer"), "failed": _l("Not placed")}
STATUSES = {"received": _l("Received"), "scheduled": _l("Scheduled for later"), "queued": _l("Queued"),
            "dialing": _l("Calling the manager"), "manager_answered": _l("Manager answered"),
            "connected": _l("Connected"), "completed": _l("Completed"), "rejected": _l("Rejected"),
            "passive": _l("Forwarded by e-mail"), "expired": _l("Expired")}
SORTS = {"new": _l("Newest first"), "old": _l("Oldest first"), "long": _l("Longest first")}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
             "source": source or "", "line": line_id, "number": number or "", "sort": _sort()}
    return filters, shown


def _sort() -> str:
    return request.args.get("sort") if request.args.get("sort") in SORTS else "new"


def _filter_args() -> dict[str, str]:
    return {key: request.args[key] for key in FILTER_ARGS if request.args.get(key)}


def _recent_sources(account) -> list[str]:
    """The account's traffic sources of the last 30 days, most used first: suggestions for the source filter."""
    start, end = stats.period_bounds("month", account.timezone)
    return [source for source, _count in stats.per_source(account.id, start, end) if source]


@bp.get("/calls")
@requires_running_service
def calls_page():
    """The call log in the chosen order, one keyset page at a time."""
    account = _calls_account()
    filters, shown = _filters(account)
    try:
        current = call_log.page(account.id, account.timezone, filters, request.args.get("cursor") or None,
                                sort=shown["sort"])
    except call_log.BadCursor:
        abort(400)
    next_url = (url_for(".calls_page", **_filter_args(), cursor=current.next_cursor)
                if current.next_cursor else None)
    lines = db.session.scalars(sa.select(ManagerLine).where(ManagerLine.account_id == account.id)
                               .order_by(ManagerLine.id)).all()
    return render_template("portal/calls.html", rows=current.rows, next_url=next_url, shown=shown,
                           first_url=url_for(".calls_page", **_filter_args()) if request.args.get("cursor") else None,
                           csv_url=url_for(".calls_csv", **_filter_args()),
                           xlsx_url=url_for(".calls_xlsx", **_filter_args()), sites=account.sites, lines=lines,
                           sources=_recent_sources(account), statuses=STATUSES, outcomes=OUTCOMES, sorts=SORTS,
                           zone=account.timezone)


def _header(zone: str) -> list[str]:
    return [_("Time (%(zone)s)", zone=zone), _("Site"), _("Widget page"), _("Source"), _("Keyword"),
            _("Client number"), _("Manager"), _("Manager number"), _("Duration, s"), _("IP address"),
            _("Region"), _("Status"), _("Outcome")]


def _text(value: str) -> str:
    """Free text (much of it typed or sent by visitors) that a spreadsheet would read as a formula gets a `'`."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _label(labels: dict, value: str) -> str:
    return str(labels.get(value, value))


def _csv_cells(row: call_log.Row) -> list[str]:
    return [row.local_time.strftime("%Y-%m-%d %H:%M:%S"), _text(row.site_name), _text(row.page_url),
            _text(row.source), _text(row.keyword), row.phone_display, _text(row.manager_name), row.manager_number,
            "" if row.duration_s is None else str(row.duration_s), row.ip, _text(row.region),
            _label(STATUSES, row.status), _label(OUTCOMES, row.outcome)]


@bp.get("/calls.csv")
@requires_running_service
def calls_csv():
    """The filtered log as CSV, streamed: one line written and sent at a time, rows fetched in keyset batches."""
    account = _calls_account()
    filters, shown = _filters(account)
    account_id, zone, sort = account.id, account.timezone, shown["sort"]

    def generate():
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(_header(zone))
        yield "\ufeff" + out.getvalue()  # UTF-8 BOM: Excel then reads the file as UTF-8
        for row in call_log.iter_rows(account_id, zone, filters, sort=sort):
            out.seek(0)
            out.truncate()
            writer.writerow(_csv_cells(row))
            yield out.getvalue()

    filename = f"calls-{account.client_code}.csv"
    return Response(stream_with_context(generate()), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _xlsx_text(sheet, value: str) -> WriteOnlyCell:
    """A text cell that stays text: never a formula (openpyxl would read `=…` as one), no characters XML refuses."""
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"
    return cell


def _xlsx_cells(sheet, row: call_log.Row) -> list:
    time = WriteOnlyCell(sheet, value=row.local_time.replace(tzinfo=None))  # Excel has no zones: local, as named
    time.number_format = "yyyy-mm-dd hh:mm:ss"
    texts = [row.site_name, row.page_url, row.source, row.keyword, row.phone_display, row.manager_name,
             row.manager_number]
    return [time, *(_xlsx_text(sheet, text) for text in texts), row.duration_s,
            *(_xlsx_text(sheet, text) for text in (row.ip, row.region, _label(STATUSES, row.status),
                                                    _label(OUTCOMES, row.outcome)))]


@bp.get("/calls.xlsx")
@requires_running_service
def calls_xlsx():
    """The filtered log as XLSX: openpyxl's write-only workbook filled in keyset batches, then sent from a
    temporary file (deleted when closed) rather than built in memory."""
    account = _calls_account()
    filters, shown = _filters(account)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Calls"))
    sheet.append([_xlsx_text(sheet, name) for name in _header(account.timezone)])
    for row in call_log.iter_rows(account.id, account.timezone, filters, sort=shown["sort"]):
        sheet.append(_xlsx_cells(sheet, row))
    out = tempfile.TemporaryFile()
    book.save(out)
    out.seek(0)
    return send_file(out, mimetype=XLSX_TYPE, as_attachment=True,
                     download_name=f"calls-{account.client_code}.xlsx")
