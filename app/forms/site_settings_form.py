"""The site settings form shared by the back office and the cabinet: build it, save it, list its versions."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import flash, jsonify
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from app.extensions import db
from app.forms.schema_form import apply_errors, errors_by_name, schema_form, values_from_form
from app.models import Department, SettingsDocument, Site, User
from app.services import site_settings, widget_config


def site_settings_form(account_id: int, allowed_keys: Iterable[str] | None = None) -> type[FlaskForm]:
    """The form of `SiteSettings` with this account's departments as choices; only `allowed_keys`' fields."""
    departments = db.session.execute(sa.select(Department.id, Department.name)
                                     .where(Department.account_id == account_id).order_by(Department.name)).all()
    return schema_form(site_settings.SiteSettings, allowed_keys=allowed_keys,
                       choices={"departments": [tuple(row) for row in departments]})


def checked_settings(form: FlaskForm, account_id: int, site_id: int | None) -> dict | None:
    """The full settings with the form's values when every check passes; else None, every problem on the form."""
    is_valid = form.validate()
    try:
        validated = site_settings.validate(account_id, site_id, values_from_form(form))
    except site_settings.SettingsError as exc:
        apply_errors(form, exc.errors)
        return None
    return validated if is_valid else None


def save_site_settings(form: FlaskForm, account_id: int, site_id: int | None, user_id: int) -> bool:
    """Store a new version when every check passes (and commit); otherwise show every problem at once."""
    if checked_settings(form, account_id, site_id) is None:
        return False
    document = site_settings.save(account_id, site_id, values_from_form(form), user_id=user_id)
    db.session.commit()
    flash_saved(_("Saved as version %(version)s.", version=document.version) if document else None)
    return True


def preview_response(form: FlaskForm, site: Site):
    """The widget's configuration with the form's values, checked as for saving; nothing is stored.

    Invalid values: 422 with {"error": {"code": "invalid_settings", "message", "fields": {name: [messages]}}}.
    """
    validated = checked_settings(form, site.account_id, site.id)
    if validated is None:
        return jsonify(error={"code": site_settings.SettingsError.code,
                              "message": _("Fix the errors to see the preview."),
                              "fields": errors_by_name(form)}), 422
    return jsonify(widget_config.config_for(site, site_settings.SiteSettings.model_validate(validated)))


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
