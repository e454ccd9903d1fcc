"""One account's notification preferences in the back office: its values and the administrator's per-account locks.

Staff with `backoffice.accounts` (managers) see the page and may change what the client itself could (on/off
and frequency of kinds not locked for the account); only administrators (`backoffice.admin`) lock a kind for
the account, open a globally locked one, or change a locked kind's value. Only what differs from the page as
shown is written. The global defaults and locks are the "Notifications" section of the global settings.
"""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from admin.base import SecureBaseView
from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Account
from app.permissions import feature_permission
from app.services import notifications
from app.services.notifications import FREQUENCY_LABELS

LOCKS = {"global": None, "locked": True, "open": False}
LOCK_LABELS = {"global": _l("As the global setting"), "locked": _l("Locked by the administrator"),
               "open": _l("The client chooses")}


def _lock_name(value: bool | None) -> str:
    return next(name for name, lock in LOCKS.items() if lock is value)


def _form_class() -> type[FlaskForm]:
    fields = {}
    for kind in notifications.switchable_kinds():
        fields[f"lock_{kind.key}"] = SelectField(
            _l("Lock"), choices=[SelectChoice(name, label) for name, label in LOCK_LABELS.items()])
        fields[f"enabled_{kind.key}"] = BooleanField(_l("Sent"))
        fields[f"frequency_{kind.key}"] = SelectField(
            _l("Frequency"), choices=[SelectChoice(value, FREQUENCY_LABELS[value]) for value in kind.frequencies])
    fields["threshold"] = StringField(_l("Low-balance threshold, roubles"),
                                      description=_l("Empty: the global default."))
    return type("AccountNotificationsForm", (FlaskForm,), fields)


def _roubles(kop: int | None) -> str:
    if kop is None:
        return ""
    return f"{kop // 100}" if kop % 100 == 0 else f"{kop / 100:.2f}"


def _shown(account_id: int) -> dict:
    rows = {row.kind: row for row in notifications.admin_rows(account_id)}
    data = {}
    for key, pref in notifications.preferences(account_id).items():
        row = rows.get(key)
        data[f"lock_{key}"] = _lock_name(row.locked_by_admin if row else None)
        data[f"enabled_{key}"] = pref.enabled
        data[f"frequency_{key}"] = pref.frequency
    data["threshold"] = _roubles(notifications.own_low_balance_threshold_kop(account_id))
    return data


class AccountNotificationsView(SecureBaseView):
    """Opened from an account's row in the accounts list."""

    permission_key = "backoffice.accounts"

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("accounts.index_view"))

    @expose("/account/<int:account_id>", methods=("GET", "POST"))
    def account(self, account_id: int):
        account = db.get_or_404(Account, account_id)
        shown = _shown(account_id)
        form = _form_class()(data=shown)
        is_admin = feature_permission("backoffice.admin").can()
        threshold_kop, error = _threshold(form.threshold.data)
        if error and form.is_submitted():
            form.threshold.errors = [error]
        elif form.validate_on_submit():
            refused = self._save(account_id, form, shown, is_admin)
            if not refused and (form.threshold.data or "").strip() != shown["threshold"]:
                refused = self._save_threshold(account_id, threshold_kop, is_admin)
            if refused:
                db.session.rollback()
                flash(_("Not saved: only an administrator can change the lock or a locked value of %(kinds)s.",
                        kinds=", ".join(refused)), "error")
                form = _form_class()(formdata=None, data=shown)
            else:
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(request.path)
        return self.render("admin/account_notifications.html", form=form, account=account,
                           kinds=notifications.switchable_kinds(), prefs=notifications.preferences(account_id),
                           defaults={kind.key: notifications.global_default(kind.key)
                                     for kind in notifications.switchable_kinds()},
                           threshold_kop=notifications.low_balance_threshold_kop(account_id), is_admin=is_admin)

    @staticmethod
    def _save_threshold(account_id: int, threshold_kop: int | None, is_admin: bool) -> list[str]:
        if not is_admin and notifications.preference(account_id, "low_balance").locked:
            return [str(notifications.CATALOGUE["low_balance"].label)]
        notifications.set_low_balance_threshold_kop(account_id, threshold_kop, is_admin=is_admin)
        return []

    @staticmethod
    def _save(account_id: int, form: FlaskForm, shown: dict, is_admin: bool) -> list[str]:
        """Write the kinds whose values changed; the labels of the kinds a manager may not change (none written)."""
        refused, changes = [], []
        prefs = notifications.preferences(account_id)
        for kind in notifications.switchable_kinds():
            key = kind.key
            lock, enabled, frequency = (form[f"lock_{key}"].data, form[f"enabled_{key}"].data,
                                        form[f"frequency_{key}"].data)
            if (lock, enabled, frequency) == (shown[f"lock_{key}"], shown[f"enabled_{key}"], shown[f"frequency_{key}"]):
                continue
            if not is_admin and (lock != shown[f"lock_{key}"] or prefs[key].locked):
                refused.append(str(kind.label))
                continue
            changes.append((key, lock, enabled, frequency))
        if refused:
            return refused
        for key, lock, enabled, frequency in changes:
            if is_admin:
                notifications.set_admin_override(account_id, key, locked=LOCKS[lock], enabled=enabled,
                                                 frequency=frequency)
            else:
                notifications.set_preference(account_id, key, enabled=enabled, frequency=frequency)
        return []


def _threshold(text: str | None) -> tuple[int | None, str | None]:
    """(kopecks or None for the default, an error message)."""
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        value = parse_roubles(text)
    except ValueError:
        return None, _("Type an amount in roubles with at most two decimals, e.g. 150 or 150,50.")
    if not 0 <= value <= 100_000_000:
        return None, _("The threshold must be between 0 and 1 000 000 roubles.")
    return value, None


def register(admin: Admin) -> None:
    admin.add_view(AccountNotificationsView(name=_l("Account notifications"), endpoint="account_notifications",
                                            url="account-notifications"))
