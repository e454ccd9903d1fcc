"""Global settings with typed values and defaults; rows in `setting` override the defaults."""
from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator

from app.extensions import db
from app.models import Setting
from app.services import DomainError, notifications, permissions, requisites

# Form hints (app.forms.schema_form): permission keys are edited as checkboxes labelled from FEATURES.
PERMISSION_KEYS = {"choices": "permissions", "widget": "checkboxes"}


class InvoiceSupplier(BaseModel):
    """The service operator's requisites printed on bank invoices (B8), checked like a payer's.

    The defaults are a demo: checksum-valid made-up numbers and the Central Bank's example accounts; the
    operator's real requisites are entered in the back office before the first real invoice.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    name: str = Field("ООО «Демо-оператор»", min_length=1, max_length=250, title=_l("Name"))
    inn: str = Field("7701000001", title=_l("INN"))
    kpp: str | None = Field("770101001", title=_l("KPP"), description=_l("Empty for a sole proprietor."))
    ogrn: str = Field("1027701000007", title=_l("OGRN or OGRNIP"))
    address: str = Field("101000, г. Москва, ул. Примерная, д. 1", min_length=1, max_length=500,
                         title=_l("Address"))
    bank_name: str = Field("Демо-банк (пример из документации ЦБ РФ)", min_length=1, max_length=250,
                           title=_l("Bank"))
    bik: str = Field("049805746", title=_l("BIK"))
    correspondent_account: str = Field("30101810800000000746", title=_l("Correspondent account"))
    settlement_account: str = Field("40602810700000000025", title=_l("Settlement account"))
    vat_percent: int = Field(0, ge=0, le=30, title=_l("VAT rate, percent (0: no VAT)"),
                             description=_l("The VAT included in the amount; 0 prints the reason below instead."))
    vat_exemption: str = Field("Без НДС (упрощённая система налогообложения)", max_length=200,
                               title=_l("Why no VAT (printed when the rate is 0)"))
    basis: str = Field("Публичная оферта сервиса CallBack", min_length=1, max_length=250,
                       title=_l("Basis of the invoice (offer or contract)"))

    _inn = field_validator("inn")(lambda cls, value: requisites.check_inn(value))
    _bik = field_validator("bik")(lambda cls, value: requisites.check_bik(value))

    @field_validator("kpp")
    @classmethod
    def _kpp(cls, value: str | None, info: ValidationInfo) -> str | None:
        return requisites.check_kpp(value, info.data.get("inn"))

    @field_validator("ogrn")
    @classmethod
    def _ogrn(cls, value: str, info: ValidationInfo) -> str:
        return requisites.check_ogrn(value, info.data.get("inn"))

    @field_validator("correspondent_account")
    @classmethod
    def _correspondent(cls, value: str, info: ValidationInfo) -> str:
        return requisites.check_correspondent_account(value, info.data.get("bik"))

    @field_validator("settlement_account")
    @classmethod
    def _settlement(cls, value: str, info: ValidationInfo) -> str:
        return requisites.check_settlement_account(value, info.data.get("bik"))


def _kind_default(kind: notifications.Kind) -> type[BaseModel]:
    """The administrator's default for one kind of notification: on/off, frequency (of the kind's), lock."""
    labels = {"labels": {key: label for key, label in notifications.FREQUENCY_LABELS.items()}}
    return create_model(
        f"NotificationDefault_{kind.key}",
        __config__=ConfigDict(extra="ignore"),
        enabled=(bool, Field(kind.default_on, title=_l("Sent"))),
        frequency=(Literal[kind.frequencies], Field(kind.default_frequency, title=_l("Frequency"),  # type: ignore[valid-type]
                                                    json_schema_extra=labels)),
        locked=(bool, Field(kind.locked_by_default, title=_l("Only the administrator can change it"))),
    )


# N1, N4, N5: one section per kind a client may switch; its title is the kind's label. One model class per
# kind (a second class would make equal values compare unequal, and the settings form would store them).
_KIND_DEFAULTS = {kind.key: (kind, _kind_default(kind)) for kind in notifications.switchable_kinds()}
NotificationDefaults = create_model(
    "NotificationDefaults",
    __config__=ConfigDict(extra="ignore"),
    **{key: (model, Field(default_factory=model, title=kind.label)) for key, (kind, model) in _KIND_DEFAULTS.items()},
)


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
    min_submit_ms: int = Field(
        2000, ge=0, le=60_000, title=_l("A person needs at least this long to fill the widget's form, "
                                         "milliseconds (sooner: a bot; 0: not checked)"))
    number_block_hours: int = Field(
        24, ge=0, le=24 * 365, title=_l("A number that breaks its limit is blocked for, hours (blocked for good "
                                         "the next time; 0: never blocked)"))
    limit_prefix_numbers_per_hour: int = Field(
        5, ge=0, le=10_000, title=_l("Distinct numbers of one prefix (all but the last 4 digits) in an hour, "
                                     "across all accounts"))
    # Spend cap (X1; app.services.spend_guard): an account's call and SMS charges in the last hour (since its
    # last resume, if later) that pause its dialing until the owner or staff resume it; 0 turns the cap off.
    spend_cap_per_hour_kop: int = Field(
        100_000, ge=0, le=100_000_000,
        title=_l("Spend cap per account per hour, kopecks: reaching it pauses the account's dialing (0: no cap)"),
        description=_l("An account's own cap, set in its back-office record, takes its place."))
    service_alert_email: str = Field(
        "", max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+$",
        title=_l("E-mail for the service's alerts (empty: every active administrator)"))
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
    # Bank-transfer invoices (B8): who issues them and how long they are valid.
    invoice_supplier: InvoiceSupplier = Field(default_factory=InvoiceSupplier,
                                              title=_l("Supplier on bank invoices (the operator's requisites)"))
    invoice_valid_days: int = Field(5, ge=1, le=90, title=_l("A bank invoice is valid for, days"))
    # Notifications (N1, N4, N5): every account's default per kind and whether only the administrator sets it.
    notification_defaults: NotificationDefaults = Field(  # type: ignore[valid-type]
        default_factory=NotificationDefaults, title=_l("Notifications: defaults and locks for every account"))

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
        settings = GlobalSettings(**{key: value})
    except ValidationError as exc:
        raise DomainError(exc.errors()[0]["msg"], code="invalid_setting") from exc
    typed, stored = getattr(settings, key), settings.model_dump(mode="json", include={key})[key]
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=stored))
    else:
        row.value = stored
    db.session.flush()
    return typed
