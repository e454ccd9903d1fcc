"""Global settings with typed values and defaults; rows in `setting` override the defaults."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.extensions import db
from app.models import Setting
from app.services import DomainError, permissions


class GlobalSettings(BaseModel):
    """Every global setting, its type, bounds and default. A new setting is a new field here, not a table."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    trial_days: int = Field(14, ge=0, le=365, description="Length of the free trial, days (B2)")
    gift_kop: int = Field(10_000, ge=0, le=10_000_000, description="Gift balance at sign-up, kopecks (B2)")
    low_balance_threshold_kop: int = Field(
        15_000, ge=0, le=10_000_000, description="Default low-balance notice threshold, kopecks (N3)")
    rent_warning_days: int = Field(7, ge=0, le=60, description="Days before the end of rent to start warning (N4)")
    reset_token_max_age_s: int = Field(
        3600, ge=300, le=7 * 86400, description="How long a password reset link stays valid, seconds")
    client_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.CLIENT_DEFAULTS), description="What clients may do by default")
    manager_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.MANAGER_DEFAULTS), description="What managers may do")
    openable_permissions: list[str] = Field(
        default_factory=lambda: list(permissions.OPENABLE_DEFAULTS),
        description="Keys managers may open or close for one account")

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
