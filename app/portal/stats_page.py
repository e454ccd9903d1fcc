"""The cabinet's statistics page (issue 9 part 1, C2, C7, X2): the numbers of `app.services.stats`, with charts.

Needs the `stats.view` feature (403 otherwise) and a running service (the rent-ended page otherwise, B4). Query
string: `period` (today, yesterday, week, month, custom), `from`/`to` (local days, for custom), `site`. Another
account's site answers 404; bad period input falls back to today. Charts (per day by outcome, by source, by hour)
are SVG drawn on the server by `app/templates/portal/_charts.html` from `app.services.charts`.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.extensions import db
from app.guards import requires_running_service
from app.models import Site
from app.portal import _client_account, bp
from app.portal.calls import OUTCOMES, STATUSES
from app.services import charts, permissions, stats

FEATURE = "stats.view"
PERIOD_LABELS = {"today": _l("Today"), "yesterday": _l("Yesterday"), "week": _l("7 days"), "month": _l("30 days"),
                 "custom": _l("Chosen dates")}
OUTCOME_COLORS = {"success": "#2e7d32", "manager_no_answer": "#ef6c00", "client_no_answer": "#f9a825",
                  "failed": "#c62828", "": "#9e9e9e"}
BAR_COLOR = "#1565c0"


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _own_site_id(account) -> int | None:
    site_id = request.args.get("site", type=int)
    if site_id is not None:
        site = db.session.get(Site, site_id)
        if site is None or site.account_id != account.id:
            abort(404)
    return site_id


def _period() -> tuple[str, dt.date | None, dt.date | None]:
    period = request.args.get("period", "today")
    if period not in stats.PERIODS:
        period = "today"
    date_from, date_to = _date(request.args.get("from")), _date(request.args.get("to"))
    if period == "custom" and (date_from is None or date_to is None or date_to < date_from):
        period = "today"
    return period, date_from, date_to


def _charts(account_id: int, start: dt.datetime, end: dt.datetime, zone: str, site_id: int | None) -> list:
    days = stats.per_day(account_id, start, end, zone, site_id)
    series = [charts.Series(key, str(label), OUTCOME_COLORS[key]) for key, label in OUTCOMES.items()]
    series.append(charts.Series("", _("No outcome"), OUTCOME_COLORS[""]))
    by_day = charts.stacked_days(days, series, _("Requests per day by outcome"),
                                 _("Stacked bars: the requests of each day, split by outcome."), _("Total"), _("Day"))
    sources = [(source or _("No source"), count) for source, count in stats.per_source(account_id, start, end, site_id)]
    by_source = charts.horizontal(sources, BAR_COLOR, _("Requests by traffic source"),
                                  _("Horizontal bars: requests per traffic source, most first."),
                                  [_("Source"), _("Requests")], "sources", _("Other sources"))
    hours = stats.per_hour(account_id, start, end, zone, site_id)
    by_hour = charts.columns(hours, [f"{hour:02d}" for hour in range(24)], BAR_COLOR,
                             _("Requests by hour of day"),
                             _("Bars: requests per hour of the day in your time zone, from 00 to 23."),
                             [_("Hour"), _("Requests")], "hours")
    return [by_day, by_source, by_hour]


def _calls_url(start: dt.datetime, end: dt.datetime, zone: str, site_id: int | None) -> str:
    """The call log of the same local days and site."""
    local = ZoneInfo(zone)
    first, last = start.astimezone(local).date(), (end.astimezone(local) - dt.timedelta(seconds=1)).date()
    return url_for(".calls_page", **{"from": first.isoformat(), "to": last.isoformat()},
                   **({"site": site_id} if site_id is not None else {}))


@bp.get("/stats")
@login_required
@requires_running_service
def stats_page():
    account = _client_account()
    if FEATURE not in permissions.features_of(current_user):
        abort(403)
    site_id = _own_site_id(account)
    period, date_from, date_to = _period()
    zone = account.timezone
    start, end = stats.period_bounds(period, zone, start=date_from, end=date_to)
    summary = stats.summary(account.id, start, end, site_id)
    return render_template(
        "portal/stats.html", period=period, periods=PERIOD_LABELS, date_from=date_from, date_to=date_to,
        site_id=site_id, sites=account.sites, site_names={site.id: site.name for site in account.sites}, zone=zone,
        outcomes=OUTCOMES, statuses=STATUSES, summary=summary,
        charts=_charts(account.id, start, end, zone, site_id) if summary.requests else [],
        calls_url=_calls_url(start, end, zone, site_id))
