"""View guards of the cabinet that depend on the account's state (B4).

`requires_running_service`: pages blocked when the rent has ended (statistics, settings). An `expired`
account gets a page saying so (403) with a way on; `trial`, `active` and `negative` pass (a negative balance
keeps the cabinet open, B5). Staff and users without an account pass: other checks handle them. The billing
pages must stay unguarded: they are where the rent is paid.
"""
from __future__ import annotations

import functools

from flask import render_template
from flask_login import current_user, login_required

from app.services import account_state


def requires_running_service(view):
    """Decorate a cabinet view: log in first, then the rent-ended page (403) for an expired account."""
    @functools.wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        account_id = None if current_user.is_staff else current_user.account_id
        if account_id is not None:
            status = account_state.status_of(account_id)
            if status.state is account_state.State.EXPIRED:
                return render_template("portal/rent_ended.html", status=status), 403
        return view(*args, **kwargs)
    return guarded
