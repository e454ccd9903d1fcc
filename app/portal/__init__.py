"""The client cabinet (C1–C7); this issue shows the account's ID, balance and trial."""
from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.services import ledger

bp = Blueprint("portal", __name__, url_prefix="/cabinet")


@bp.get("/")
@login_required
def dashboard():
    if current_user.is_staff:
        return redirect(url_for("admin.index"))
    account = current_user.account
    if account is None:
        abort(403)
    return render_template("portal/dashboard.html", account=account, balance_kop=ledger.balance(account.id))
