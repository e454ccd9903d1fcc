"""The client cabinet (C1–C7): the account's ID, balance and trial; the settings a manager opened to it."""
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.forms.site_settings_form import history, preview_response, save_site_settings, site_settings_form
from app.guards import requires_running_service
from app.models import Site
from app.services import ledger, permissions, site_settings

bp = Blueprint("portal", __name__, url_prefix="/cabinet")

SETTINGS_KEYS = {site_settings.WIDGET_SETTINGS, site_settings.WIDGET_DESIGN, site_settings.WIDGET_TEXTS}


def _client_account():
    """The logged-in client's account; staff go to the back office, never to a client's cabinet."""
    if current_user.is_staff:
        abort(redirect(url_for("admin.index")))
    if current_user.account is None:
        abort(403)
    return current_user.account


def require_feature(key: str):
    """The client's account if the logged-in user has the feature `key`; 403 otherwise."""
    account = _client_account()
    if key not in permissions.features_of(current_user):
        abort(403)
    return account


def own_site(account, site_id: int) -> Site:
    """The account's own site; another account's (or no) site is not found."""
    site = db.session.get(Site, site_id)
    if site is None or site.account_id != account.id:
        abort(404)
    return site


@bp.context_processor
def _feature_check():
    """`has_feature(key)` for cabinet templates, e.g. the rent-ended page's link to billing (asked only when used)."""
    return {"has_feature": lambda key: current_user.is_authenticated and permissions.can(current_user, key)}


def _opened_settings_keys() -> set[str]:
    return permissions.features_of(current_user) & SETTINGS_KEYS


@bp.get("/")
@login_required
def dashboard():
    account = _client_account()
    features = permissions.features_of(current_user)
    return render_template("portal/dashboard.html", account=account, balance_kop=ledger.balance(account.id),
                           sites=account.sites, features=features, can_edit_settings=bool(features & SETTINGS_KEYS),
                           pause=_dialing.pause_of(account))


def _settings_of(site_id: int):
    """The account's own site and the settings keys opened to it; another account's site is not found."""
    account = _client_account()
    site = own_site(account, site_id)
    allowed = _opened_settings_keys()
    if not allowed:
        abort(403)
    return account, site, allowed


def _settings_form(account, site, allowed):
    effective = site_settings.effective_settings(account.id, site.id).model_dump()
    return site_settings_form(account.id, allowed_keys=allowed)(data=effective)


@bp.route("/sites/<int:site_id>/settings", methods=["GET", "POST"])
@login_required
@requires_running_service
def site_settings_page(site_id: int):
    """Only what a manager opened to this account (C5); another account's site is not found."""
    account, site, allowed = _settings_of(site_id)
    form = _settings_form(account, site, allowed)
    if form.is_submitted() and save_site_settings(form, account.id, site.id, current_user.id):
        return redirect(request.path)
    return render_template("portal/site_settings.html", form=form, site=site, history=history(account.id, site.id),
                           preview_url=url_for(".site_settings_preview", site_id=site.id))


@bp.post("/sites/<int:site_id>/settings/preview")
@login_required
@requires_running_service
def site_settings_preview(site_id: int):
    """The widget as the form's unsaved values would make it (W-settings): checked like saving, stored nowhere."""
    account, site, allowed = _settings_of(site_id)
    return preview_response(_settings_form(account, site, allowed), site)


from app.portal import billing as _billing  # noqa: E402,F401  (registers the billing pages on bp)
from app.portal import blacklist as _blacklist  # noqa: E402,F401  (the account's blacklist, D13)
from app.portal import calls as _calls  # noqa: E402,F401  (the call log, C3)
from app.portal import dialing as _dialing  # noqa: E402  (the spend cap's pause and resume, X1)
from app.portal import install as _install  # noqa: E402,F401  (the install snippet and its check)
from app.portal import invoices as _invoices  # noqa: E402,F401
from app.portal import lines as _lines  # noqa: E402,F401  (manager lines, D1)
from app.portal import notifications as _notifications  # noqa: E402,F401
from app.portal import payments as _payments  # noqa: E402,F401
from app.portal import personal as _personal  # noqa: E402,F401  (client ID, e-mail, password; C4)
from app.portal import stats_page as _stats_page  # noqa: E402,F401  (the statistics page, C2)
