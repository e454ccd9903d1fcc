"""Global settings with typed values and defaults; rows in `setting` override the defaults."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.extensions import db
from app.models import Setting
from app.services import DomainError, permissions

# Form hints (app.forms.schema_form): permission keys are edited as checkboxes labelled from FEATURES.
PERMISSION_KEYS = {"choices": "permissions", "widget": "checkboxes"}


class GlobalSettings(BaseModel):
    """Every global setting, its type, bounds and default. A new setting is a new field here, not a table."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True, validate_default=True)

    trial_days: int = Field(14, ge=0, le=365, title=_l("Free trial, days"))  # B2
    gift_kop: int = Field(10_000, ge=0, le=10_000_000, title=_l("Gift balance at sign-up, kopecks"))  # B2
    low_balance_threshold_kop: int = Field(
        15_000, ge=0, le=10_000_000, title=_l("Default low-balance notice threshold, kopecks"))  # N3
    rent_warning_days: int = Field(7, ge=0, le=60, title=_l("Warn about the end of rent, days before"))  # N4
    reset_token_max_age_s: int = Field(
        3600, ge=300, le=7 * 86400, title=_l("A password reset link is valid for, seconds"))
    # Abuse limits (X1): 0 turns a limit off.
    limit_number_per_10min: int = Field(
        3, ge=0, le=1000, title=_l("Requests to one number in 10 minutes, across all accounts"))
    limit_number_per_day: int = Field(
        6, ge=0, le=10_000, title=_l("Requests to one number in a day, across all accounts"))
    limit_session_interval_s: int = Field(
        300, ge=0, le=86_400, title=_l("One accepted request per visitor session in, seconds"))
    limit_ip_numbers_per_hour: int = Field(
        3, ge=0, le=1000, title=_l("Distinct numbers from one IP address in an hour"))
    # The telecom operator the widget names (W10).
    operator_name: str = Field("МТТ", min_length=1, max_length=60, title=_l("Telecom operator's name"))
    operator_url: str = Field("https://www.mtt.ru", pattern=r"^https://\S+$", max_length=200,
                              title=_l("Telecom operator's site"))
    callback_eta_s: int = Field(28, ge=5, le=120, title=_l("Promised call-back time, seconds"))
    client_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.CLIENT_DEFAULTS), title=_l("What clients may do"),
        json_schema_extra=PERMISSION_KEYS)
    manager_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.MANAGER_DEFAULTS), title=_l("What managers may do"),
        json_schema_extra=PERMISSION_KEYS)
    openable_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.OPENABLE_DEFAULTS),
        title=_l("What managers may open or close for one account"),
        description=_l("A key opened for an account stops counting once it is no longer listed here."),
        json_schema_extra=PERMISSION_KEYS)
    # Dialing gate (overdraft policy, ARCHITECTURE "Money"; app.services.charges.may_dial).
    dial_minimum_minutes: int = Field(
        2, ge=0, le=60, title=_l("A call is dialed only if the balance covers minutes of its dearest leg"))
    max_call_duration_s: int = Field(
        3600, ge=60, le=4 * 3600, title=_l("Longest call, seconds (also capped by what the balance covers)"))

    _known_keys = field_validator("client_permissions", "manager_permissions", "openable_permissions")(
        lambda cls, keys: permissions.validate_keys(keys))


def get_settings() -> GlobalSettings:
    rows = db.session.execute(sa.select(Setting.key, Setting.value)).all()
    stored = {key: value for key, value in rows if key in GlobalSettings.model_fields}
    try:
        return GlobalSettings(**stored)
    except ValidationError:
        # A stored value that no longer validates (an older schema) falls back to its default.
        valid = {k: v for k, v in stored.items() if _is_valid(k, v)}
        return GlobalSettings(**valid)


def _is_valid(key: str, value: Any) -> bool:
    try:
        GlobalSettings(**{key: value})
    except ValidationError:
        return False
    return True


def set_setting(key: str, value: Any) -> Any:
    """Validate and store one setting; returns the typed value."""
    if key not in GlobalSettings.model_fields:
        raise DomainError(f"Unknown setting {key!r}", code="unknown_setting")
    try:
        typed = getattr(GlobalSettings(**{key: value}), key)
    except ValidationError as exc:
        raise DomainError(exc.errors()[0]["msg"], code="invalid_setting") from exc
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=typed))
    else:
        row.value = typed
    db.session.flush()
    return typed
