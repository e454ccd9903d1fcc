"""The cabinet's statistics page (issue 9 part 1, C2, X2): the numbers of `app.services.stats` as tables.

Needs the `stats.view` feature (403 otherwise) and a running service. Query string: `period` (today, yesterday,
week, month, custom), `from`/`to` (local days, for custom), `site`. Another account's site answers 404. No charts
yet: per-day and per-hour counts are shown as tables.
"""
from __future__ import annotations

import datetime as dt

from flask import abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.extensions import db
from app.guards import requires_running_service
from app.models import Site
from app.portal import _client_account, bp
from app.portal.calls import OUTCOMES
from app.services import permissions, stats

FEATURE = "stats.view"
PERIOD_LABELS = {"today": _l("Today"), "yesterday": _l("Yesterday"), "week": _l("7 days"), "month": _l("30 days"),
                 "custom": _l("Period")}


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/stats")
@login_required
@requires_running_service
def stats_page():
    account = _client_account()
    if FEATURE not in permissions.features_of(current_user):
        abort(403)
    site_id = request.args.get("site", type=int)
    if site_id is not None:
        site = db.session.get(Site, site_id)
        if site is None or site.account_id != account.id:
            abort(404)
    period = request.args.get("period", "today")
    if period not in stats.PERIODS:
        period = "today"
    date_from, date_to = _date(request.args.get("from")), _date(request.args.get("to"))
    if period == "custom" and (date_from is None or date_to is None or date_to < date_from):
        period = "today"
    start, end = stats.period_bounds(period, account.timezone, start=date_from, end=date_to)
    return render_template(
        "portal/stats.html", period=period, periods=PERIOD_LABELS, date_from=date_from, date_to=date_to,
        site_id=site_id, sites=account.sites, zone=account.timezone, outcomes=OUTCOMES,
        summary=stats.summary(account.id, start, end, site_id),
        days=stats.per_day(account.id, start, end, account.timezone, site_id),
        hours=stats.per_hour(account.id, start, end, account.timezone, site_id),
        sources=stats.per_source(account.id, start, end, site_id))
