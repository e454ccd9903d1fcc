"""The cabinet's side of the spend cap (X1): the dashboard banner's data, and resuming paused dialing.

Resuming is the account's own: the logged-in client's account, with the billing key (`billing.view`, the
person who sees and pays the spend).
"""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.extensions import db
from app.portal import bp, require_feature
from app.services import spend_guard

FEATURE = "billing.view"


def pause_of(account) -> dict | None:
    """What the dashboard's banner shows while the account's dialing is paused; None when it is not."""
    if account.dialing_paused_at is None:
        return None
    return {"since": account.dialing_paused_at, "cap_kop": spend_guard.cap_of(account)}


@bp.post("/dialing/resume")
@login_required
def dialing_resume():
    account = require_feature(FEATURE)
    if spend_guard.resume(account):
        db.session.commit()
        flash(_("Calls resumed. The hourly spend cap counts again from now."), "success")
    else:
        db.session.rollback()
        flash(_("Calls were not paused."), "info")
    return redirect(url_for(".dashboard"))
