"""The site settings form shared by the back office and the cabinet: build it, save it, list its versions."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import flash
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from app.extensions import db
from app.forms.schema_form import apply_errors, schema_form, values_from_form
from app.models import Department, SettingsDocument, User
from app.services import site_settings


def site_settings_form(account_id: int, allowed_keys: Iterable[str] | None = None) -> type[FlaskForm]:
    """The form of `SiteSettings` with this account's departments as choices; only `allowed_keys`' fields."""
    departments = db.session.execute(sa.select(Department.id, Department.name)
                                     .where(Department.account_id == account_id).order_by(Department.name)).all()
    return schema_form(site_settings.SiteSettings, allowed_keys=allowed_keys,
                       choices={"departments": [tuple(row) for row in departments]})


def save_site_settings(form: FlaskForm, account_id: int, site_id: int | None, user_id: int) -> bool:
    """Store a new version when every check passes (and commit); otherwise show every problem at once."""
    is_valid = form.validate()
    values = values_from_form(form)
    try:
        site_settings.validate(account_id, site_id, values)
    except site_settings.SettingsError as exc:
        apply_errors(form, exc.errors)
        return False
    if not is_valid:
        return False
    document = site_settings.save(account_id, site_id, values, user_id=user_id)
    db.session.commit()
    flash_saved(_("Saved as version %(version)s.", version=document.version) if document else None)
    return True


def flash_saved(message: str | None) -> None:
    if message is None:
        flash(_("Nothing has changed."), "info")
    else:
        flash(message, "success")


def history(account_id: int, site_id: int | None) -> list:
    """Every version of the document, newest first: number, time and who saved it."""
    return db.session.execute(
        sa.select(SettingsDocument.version, SettingsDocument.created_at, User.email)
        .outerjoin(User, User.id == SettingsDocument.created_by_id)
        .where(SettingsDocument.account_id == account_id,
               SettingsDocument.scope == site_settings.site_scope(site_id))
        .order_by(SettingsDocument.version.desc())).all()
