"""The one access rule of the back office: a view names a feature key; staff with that key may open it.

Strangers are sent to log in; anyone else without the key (clients always) gets 403. The same keys guard
the cabinet (app.services.permissions), so there is one check for both.
"""
import logging

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext as admin_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import filters as model_filters
from flask_admin.model.form import converts
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup

from app.extensions import db
from app.models import Account, Notification
from app.permissions import feature_permission

log = logging.getLogger(__name__)


class SecureMixin:
    """Mixed into every back-office view; `permission_key` says who may open it."""

    permission_key = "backoffice.accounts"

    def is_accessible(self) -> bool:
        return (current_user.is_authenticated and current_user.is_staff
                and feature_permission(self.permission_key).can())

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class SecureIndexView(SecureMixin, AdminIndexView):
    @expose("/")
    def index(self):
        statuses = dict(db.session.execute(
            sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
        counts = {"accounts": db.session.scalar(sa.select(sa.func.count()).select_from(Account)),
                  "pending": statuses.get("pending", 0) + statuses.get("sending", 0),
                  "failed": statuses.get("failed", 0)}
        return self.render("admin/index.html", counts=counts)


class SecureBaseView(SecureMixin, BaseView):
    pass


class ModelConverter(AdminModelConverter):
    """Forms for our column types: UTC datetimes edit like plain datetimes (entered as UTC)."""

    @converts("app.db.UTCDateTime")
    def convert_utc_datetime(self, *args, **kwargs):
        return self.convert_datetime(*args, **kwargs)


class FilterConverter(sqla_filters.FilterConverter):
    @model_filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return self.conv_datetime(column, name, **kwargs)


class SecureModelView(SecureMixin, ModelView):
    """A model view with CSRF on every form and action (Flask-WTF), details, search and paging."""

    form_base_class = FlaskForm
    model_form_converter = ModelConverter
    filter_converter = FilterConverter()
    can_view_details = True
    page_size = 50
    can_set_page_size = True

    def __init__(self, model, **kwargs):
        super().__init__(model, db, **kwargs)

    def scaffold_sortable_columns(self):
        # JSON has no ordering on PostgreSQL: sorting by such a column would be a 500 there.
        return {name: column for name, column in super().scaffold_sortable_columns().items()
                if not isinstance(getattr(column, "type", None), sa.JSON)}

    def handle_view_exception(self, exc) -> bool:
        # Roll back before Flask-Admin flashes its message: the flash renders in the user's language, and
        # reading the user's account from a failed session would turn a form error into a 500.
        db.session.rollback()
        if isinstance(exc, sa.exc.IntegrityError):
            log.info("back office: %s", exc)  # the SQL is for the log, not for the person at the form
            flash(_("This conflicts with an existing record (a duplicate?). Nothing was saved."), "error")
            return True
        return super().handle_view_exception(exc)

    @action("delete", admin_gettext("Delete"), admin_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        # Flask-Admin filters the integer key with the posted strings; PostgreSQL refuses integer = varchar.
        return super().action_delete([int(value) for value in ids if str(value).isdigit()])


class ClientCodeFilter(sqla_filters.BaseSQLAFilter):
    """Filter an `account_id` column by the client ID staff see everywhere (K7M-4QXZ), not the internal number."""

    def apply(self, query, value, alias=None):
        ids = sa.select(Account.id).where(sa.func.upper(Account.client_code) == value.strip().upper())
        return query.filter(self.get_column(alias).in_(ids))

    def operation(self):
        return _("client ID is")


def account_link(view, context, model, name) -> Markup:
    """A column formatter: the row's account as "client ID company", linked to the account's page."""
    account = db.session.get(Account, model.account_id)
    return Markup('<a href="{}">{}</a>').format(url_for("accounts.details_view", id=account.id),
                                                f"{account.client_code} {account.company}")
