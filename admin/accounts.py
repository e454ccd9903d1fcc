"""Accounts and users in the back office."""
from __future__ import annotations

import zoneinfo

import sqlalchemy as sa
from flask import flash, url_for
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.security import generate_password_hash
from wtforms import PasswordField, SelectField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from admin.base import SecureModelView
from app.extensions import db
from app.models import Account, User
from app.permissions import feature_permission
from app.services import accounts, ledger, spend_guard
from app.services.accounts import AccountError
from app.templating import money

RUSSIAN_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
                 "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
                 "Asia/Magadan", "Asia/Kamchatka"]


def timezone_choices() -> list[tuple[str, str]]:
    others = sorted(zoneinfo.available_timezones() - set(RUSSIAN_ZONES))
    return [SelectChoice(z, z) for z in RUSSIAN_ZONES + others]


def _dialing(view, context, model: Account, name) -> str:
    """X1: the spend cap's pause, and the cap in force."""
    cap = spend_guard.cap_of(model)
    limit = money(cap) if cap else str(_l("no cap"))
    if model.dialing_paused_at is None:
        return str(_l("Calls on; cap %(cap)s an hour", cap=limit))
    return str(_l("PAUSED since %(since)s UTC: hourly spend cap %(cap)s reached",
                  since=model.dialing_paused_at.strftime("%Y-%m-%d %H:%M"), cap=limit))


class AccountView(SecureModelView):
    """Client accounts. Created with a client ID, trial and gift; never deleted (their money history stays)."""

    permission_key = "backoffice.accounts"
    can_delete = False
    column_list = ["client_code", "company", "timezone", "locale", "trial_ends_at", "created_at", "balance",
                   "dialing", "settings", "adjust"]
    column_searchable_list = ["client_code", "company"]
    column_filters = ["created_at", "trial_ends_at", "locale"]
    column_default_sort = ("id", True)
    column_labels = {"client_code": _l("Client ID"), "company": _l("Company"), "timezone": _l("Time zone"),
                     "locale": _l("Language"), "trial_ends_at": _l("Free trial until"),
                     "created_at": _l("Created"), "balance": _l("Balance"), "settings": _l("Settings"),
                     "adjust": _l("Adjust balance"), "dialing": _l("Calls (spend cap)"),
                     "spend_cap_per_hour_kop": _l("Own spend cap per hour, kopecks"),
                     "dialing_paused_at": _l("Calls paused at"), "dialing_resumed_at": _l("Calls resumed at")}
    column_formatters = {
        "balance": lambda view, context, model, name: money(ledger.balance(model.id)),
        "dialing": _dialing,
        "settings": lambda view, context, model, name: Markup('<a href="{}">{}</a><br><a href="{}">{}</a>').format(
            url_for("site_settings.account", account_id=model.id), _l("Defaults for its sites"),
            url_for("account_notifications.account", account_id=model.id), _l("Notifications")),
        "adjust": lambda view, context, model, name: Markup('<a href="{}">{}</a>').format(
            url_for("adjustments.index", account=model.id), _l("Adjust balance"))
        if feature_permission("backoffice.admin").can() else "",
    }
    form_columns = ["company", "timezone", "locale", "trial_ends_at", "spend_cap_per_hour_kop"]
    form_overrides = {"timezone": SelectField, "locale": SelectField}
    form_args = {"locale": {"choices": [SelectChoice("ru", "Русский"), SelectChoice("en", "English")]},
                 "spend_cap_per_hour_kop": {
                     "validators": [Optional(), NumberRange(min=0, max=100_000_000)],
                     "description": _l("Empty or 0: the global default (Settings, spend cap per account per hour).")}}

    def on_model_change(self, form, model: Account, is_created: bool):
        model.spend_cap_per_hour_kop = model.spend_cap_per_hour_kop or None  # 0: the global default

    @action("resume_dialing", _l("Resume calls"),
            _l("Resume calls of the selected accounts? Their hourly spend cap counts again from now."))
    def action_resume_dialing(self, ids):
        chosen = [int(value) for value in ids if str(value).isdigit()]
        found = db.session.scalars(sa.select(Account).where(Account.id.in_(chosen))).all()
        paused = sum(spend_guard.resume(account) for account in found)
        db.session.commit()
        flash(_("Calls resumed: %(count)d paused account(s) of %(total)d selected.", count=paused,
                total=len(found)), "success")

    def create_form(self, obj=None):
        return self._with_zone_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._with_zone_choices(super().edit_form(obj))

    @staticmethod
    def _with_zone_choices(form):
        form.timezone.choices = timezone_choices()
        return form

    def create_model(self, form):
        """Through the sign-up path's `open_account`: client ID, trial and gift like any new account."""
        try:
            account = accounts.open_account(form.company.data, locale=form.locale.data,
                                            timezone=form.timezone.data)
            if form.trial_ends_at.data:
                account.trial_ends_at = form.trial_ends_at.data
            db.session.commit()
        except Exception as exc:
            if not self.handle_view_exception(exc):
                raise
            return False
        return account


class UserView(SecureModelView):
    """Everyone who logs in; administrators only. Users are deactivated, not deleted."""

    permission_key = "backoffice.admin"
    can_delete = False
    column_list = ["email", "role", "account", "is_active", "created_at", "last_login_at"]
    column_details_list = column_list + ["password_changed_at"]  # never the password hash
    column_searchable_list = ["email"]
    column_filters = ["role", "is_active", "created_at"]
    column_labels = {"email": "E-mail", "role": _l("Role"), "account": _l("Account"), "is_active": _l("Active"),
                     "created_at": _l("Created"), "last_login_at": _l("Last log-in")}
    column_formatters = {"email": lambda v, c, model, n: Markup.escape(model.email)}
    form_columns = ["email", "role", "account", "is_active", "new_password"]
    form_overrides = {"role": SelectField}
    form_args = {"role": {"choices": [SelectChoice("client", _l("Client")), SelectChoice("manager", _l("Manager")),
                                      SelectChoice("admin", _l("Administrator"))]}}
    form_extra_fields = {"new_password": PasswordField(_l("New password"), validators=[Optional()])}

    def on_model_change(self, form, model: User, is_created: bool):
        try:
            model.email = accounts.normalise_email(model.email)
            if model.role != "client":
                model.account = None
            elif model.account is None:
                raise AccountError(_l("A client user needs an existing account."))
            if is_created:
                accounts.check_password_strength(form.new_password.data or "", model.email)
                model.password_hash = generate_password_hash(form.new_password.data)
            elif form.new_password.data:
                accounts.set_password(model, form.new_password.data)
        except AccountError as exc:
            raise ValidationError(str(exc)) from exc


def register(admin) -> None:
    admin.add_view(AccountView(Account, name=_l("Accounts"), endpoint="accounts", category=_l("Clients")))
    admin.add_view(UserView(User, name=_l("Users"), endpoint="users", category=_l("Clients")))
