"""The cabinet's notification preferences (N1, N3–N5) and the unsubscribe link every e-mail carries.

Not guarded by `requires_running_service`: an expired client still chooses what it is told. The page edits the
logged-in client's own account only. A kind the administrator locked is shown disabled; a crafted request
changing it is refused as a whole, nothing saved. The unsubscribe link needs no login: its signed token names
one account and one kind, and it switches off only that.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Account
from app.portal import _client_account, bp
from app.services import notifications
from app.services.notifications import FREQUENCY_LABELS, PreferenceLocked

FEATURE = "notifications.edit"
FALSE_VALUES = {"", "false", "0", "off", "n", "no"}

unsubscribe_bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def _notifications_account() -> Account:
    """The client's account if the user may edit its notifications: staff go to the back office, no key → 403."""
    from app.services import permissions

    account = _client_account()
    if FEATURE not in permissions.features_of(current_user):
        abort(403)
    return account


class _PreferencesForm(FlaskForm):
    threshold = StringField(_l("Warn when the balance is below, roubles"),
                            description=_l("Leave empty for the service's default."))


def _form_class() -> type[FlaskForm]:
    fields = {}
    for kind in notifications.switchable_kinds():
        fields[f"enabled_{kind.key}"] = BooleanField(kind.label)
        if len(kind.frequencies) > 1:
            fields[f"frequency_{kind.key}"] = SelectField(
                _l("Frequency"), choices=[SelectChoice(value, FREQUENCY_LABELS[value]) for value in kind.frequencies])
    return type("NotificationPreferencesForm", (_PreferencesForm,), fields)


def _current_data(account_id: int) -> dict:
    data = {}
    for key, pref in notifications.preferences(account_id).items():
        data[f"enabled_{key}"] = pref.enabled
        data[f"frequency_{key}"] = pref.frequency
    threshold_kop = notifications.low_balance_threshold_kop(account_id)
    data["threshold"] = f"{threshold_kop // 100}" if threshold_kop % 100 == 0 else f"{threshold_kop / 100:.2f}"
    return data


def _locked_changes(account_id: int, prefs: dict) -> list[str]:
    """The labels of locked kinds the submitted form would change; a field not submitted changes nothing (a
    browser does not submit a disabled control)."""
    changed = []
    for kind in notifications.switchable_kinds():
        pref = prefs[kind.key]
        if not pref.locked:
            continue
        enabled = request.form.get(f"enabled_{kind.key}")
        frequency = request.form.get(f"frequency_{kind.key}")
        if (enabled is not None and (enabled.strip().lower() not in FALSE_VALUES) != pref.enabled) or \
                (frequency is not None and frequency != pref.frequency):
            changed.append(str(kind.label))
    return changed


@bp.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications_page():
    account = _notifications_account()
    prefs = notifications.preferences(account.id)
    form = _form_class()(data=_current_data(account.id))
    if form.validate_on_submit():
        refused = _locked_changes(account.id, prefs)
        threshold_kop, threshold_error = _threshold(form, prefs["low_balance"].locked, account.id)
        if refused:
            flash(_("Not saved: only the administrator can change %(kinds)s.", kinds=", ".join(refused)), "error")
            form = _form_class()(formdata=None, data=_current_data(account.id))
        elif threshold_error:
            form.threshold.errors = [threshold_error]
            _show_locked_as_they_are(form, prefs)
        else:
            try:
                _save(form, account.id, prefs, threshold_kop)
            except PreferenceLocked as exc:
                db.session.rollback()
                flash(_("Not saved: %(reason)s", reason=str(exc)), "error")
            else:
                db.session.commit()
                flash(_("Notification preferences saved."), "success")
                return redirect(url_for(".notifications_page"))
    return render_template("portal/notifications.html", form=form, kinds=notifications.switchable_kinds(),
                           prefs=prefs, frequency_labels=FREQUENCY_LABELS)


def _show_locked_as_they_are(form, prefs: dict) -> None:
    """A disabled checkbox is not submitted: shown again, a locked kind shows its value, not "off"."""
    for key, pref in prefs.items():
        if pref.locked:
            form[f"enabled_{key}"].data = pref.enabled


def _threshold(form, is_locked: bool, account_id: int) -> tuple[int | None, str | None]:
    """(the threshold in kopecks or None for the default, an error): a locked kind's threshold is unchanged."""
    text = (form.threshold.data or "").strip()
    current = notifications.low_balance_threshold_kop(account_id)
    if not text:
        return (current, None) if is_locked else (None, None)
    try:
        value = parse_roubles(text)
    except ValueError:
        return None, _("Type an amount in roubles with at most two decimals, e.g. 150 or 150,50.")
    if value < 0 or value > 100_000_000:
        return None, _("The threshold must be between 0 and 1 000 000 roubles.")
    if is_locked and value != current:
        return None, _("Only the administrator can change this threshold.")
    return value, None


def _save(form, account_id: int, prefs: dict, threshold_kop: int | None) -> None:
    """Only what the client changed is stored: a kind left as it was keeps following the global default."""
    for kind in notifications.switchable_kinds():
        pref = prefs[kind.key]
        if pref.locked:
            continue
        frequency_field = form._fields.get(f"frequency_{kind.key}")
        enabled, frequency = form[f"enabled_{kind.key}"].data, frequency_field.data if frequency_field else None
        if enabled != pref.enabled or (frequency is not None and frequency != pref.frequency):
            notifications.set_preference(account_id, kind.key, enabled=enabled, frequency=frequency)
    current = notifications.low_balance_threshold_kop(account_id)
    is_changed = threshold_kop != current if threshold_kop is not None else \
        notifications.own_low_balance_threshold_kop(account_id) is not None
    if not prefs["low_balance"].locked and is_changed:
        notifications.set_low_balance_threshold_kop(account_id, threshold_kop)


# --- the unsubscribe link ---------------------------------------------------------------------------------------

class UnsubscribeForm(FlaskForm):
    """No fields: the confirmation POST carries only its CSRF token."""


@unsubscribe_bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """GET asks to confirm; POST switches the token's kind off for the token's account only."""
    found = notifications.read_unsubscribe_token(token)
    if found is None:
        abort(404)
    account_id, key = found
    account = db.session.get(Account, account_id)
    kind = notifications.CATALOGUE[key]
    form = UnsubscribeForm()
    status, done, refused = 200, False, None
    with force_locale(account.locale):
        pref = notifications.preference(account_id, key) if kind.is_switchable else None
        if pref is None or pref.locked:
            refused = _("“%(kind)s” cannot be switched off here: it is set by the administrator.", kind=kind.label) \
                if pref is not None else _("“%(kind)s” is always sent.", kind=kind.label)
        if request.method == "POST":
            if refused:
                status = 409
            elif form.validate_on_submit():
                notifications.set_preference(account_id, key, enabled=False)
                db.session.commit()
                done = True
            else:
                status = 400
        html = render_template("notifications/unsubscribe.html", form=form, kind=kind, pref=pref, done=done,
                               refused=refused, account=account,
                               preferences_url=url_for("portal.notifications_page"))
    return html, status
