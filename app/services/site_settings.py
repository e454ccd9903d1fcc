"""Site settings documents (A4): the schema, inheritance from account defaults, and versioned saving.

A site's effective settings are the schema's defaults, overlaid by the account's document, overlaid by the
site's own document. Each document stores only what differs from what it inherits, so changing an account
default reaches every site that did not set its own value. A new option is a field here, not a migration.
"""
from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any, Literal

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.extensions import db
from app.models import Department, SettingsDocument
from app.services import DomainError, telephony

WIDGET_SETTINGS = "widget.settings.edit"
WIDGET_DESIGN = "widget.design.edit"
WIDGET_TEXTS = "widget.texts.edit"

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"


def _section(key: str, **extra) -> dict:
    """Schema metadata the form generator reads: the permission key that edits a field, and widget hints."""
    return {"permission": key, **extra}


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_open: bool = Field(True, title=_l("Working day"))
    opens_at: dt.time = Field(dt.time(9, 0), title=_l("Opens at"))
    closes_at: dt.time = Field(dt.time(18, 0), title=_l("Closes at"),
                               description=_l("00:00 to 00:00 means around the clock."))

    @model_validator(mode="after")
    def _ordered(self):
        around_the_clock = self.opens_at == self.closes_at == dt.time(0, 0)
        if self.is_open and not around_the_clock and self.closes_at <= self.opens_at:
            raise ValueError(str(_l("The closing time must be after the opening time.")))
        return self


def _weekday(title, is_open: bool = True) -> Any:
    return Field(default_factory=lambda: DayHours(is_open=is_open), title=title)


class WeeklySchedule(BaseModel):
    """Working hours of the sales department, Monday to Sunday, in the site's time zone (D8)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"widget": "week"})

    mon: DayHours = _weekday(_l("Monday"))
    tue: DayHours = _weekday(_l("Tuesday"))
    wed: DayHours = _weekday(_l("Wednesday"))
    thu: DayHours = _weekday(_l("Thursday"))
    fri: DayHours = _weekday(_l("Friday"))
    sat: DayHours = _weekday(_l("Saturday"), is_open=False)
    sun: DayHours = _weekday(_l("Sunday"), is_open=False)


class Design(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accent_color: str = Field("#e30611", pattern=COLOR_PATTERN, title=_l("Accent colour"),
                              json_schema_extra={"widget": "color"})
    text_color: str = Field("#1d2433", pattern=COLOR_PATTERN, title=_l("Text colour"),
                            json_schema_extra={"widget": "color"})
    background_color: str = Field("#ffffff", pattern=COLOR_PATTERN, title=_l("Background colour"),
                                  json_schema_extra={"widget": "color"})
    position: Literal["bottom-right", "bottom-left", "center"] = Field(
        "bottom-right", title=_l("Position of the button"),
        json_schema_extra={"labels": {"bottom-right": _l("Bottom right"), "bottom-left": _l("Bottom left"),
                                      "center": _l("Centre of the screen")}})


class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field("Хотите, перезвоним вам за 28 секунд?", min_length=1, max_length=120, title=_l("Title"))
    body: str = Field("Оставьте номер: мы позвоним и соединим вас с менеджером бесплатно.", max_length=400,
                      title=_l("Text"), json_schema_extra={"widget": "textarea"})
    button: str = Field("Жду звонка", min_length=1, max_length=40, title=_l("Button"))


class TextsOverride(BaseModel):
    """Texts that replace the general ones where set; a blank field keeps the general text."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=120, title=_l("Title"))
    body: str | None = Field(None, max_length=400, title=_l("Text"), json_schema_extra={"widget": "textarea"})
    button: str | None = Field(None, max_length=40, title=_l("Button"))


class DesignOverride(BaseModel):
    """Colours that replace the general design where set, as #rrggbb."""

    model_config = ConfigDict(extra="forbid")

    accent_color: str | None = Field(None, pattern=COLOR_PATTERN, title=_l("Accent colour"))
    background_color: str | None = Field(None, pattern=COLOR_PATTERN, title=_l("Background colour"))


def _keyword_list(values: list[str]) -> list[str]:
    """Keywords as matched: trimmed, case-folded, without blanks or repeats."""
    return list(dict.fromkeys(v.strip().casefold() for v in values if v.strip()))


class ExitIntent(BaseModel):
    """Catch on exit (W2, W3): the pointer leaves through the top, or a touch visitor is about to leave."""

    model_config = ConfigDict(extra="forbid")

    is_enabled: bool = Field(True, title=_l("On"))
    is_on_desktop: bool = Field(True, title=_l("On computers"))
    is_on_touch: bool = Field(True, title=_l("On phones and tablets"))
    armed_after_s: int = Field(5, ge=0, le=300, title=_l("Watch for leaving after, s of reading"))
    touch_armed_after_s: int = Field(15, ge=0, le=300, title=_l("Touch: watch for leaving after, s of reading"))
    is_scroll_up: bool = Field(True, title=_l("Touch: a fast scroll back to the top"))
    is_tab_return: bool = Field(True, title=_l("Touch: the visitor comes back to the tab"))
    idle_s: int = Field(30, ge=0, le=600, title=_l("Touch: inactivity, s (0: off)"))
    texts: TextsOverride = Field(default_factory=TextsOverride, title=_l("Texts of this scenario"),
                                 json_schema_extra=_section(WIDGET_TEXTS))


class HotVisitor(BaseModel):
    """Catch hot visitors (W4): a hot keyword, an ad click or a direct visit, or much activity in the first minute."""

    model_config = ConfigDict(extra="forbid")

    is_enabled: bool = Field(False, title=_l("On"))
    is_on_desktop: bool = Field(True, title=_l("On computers"))
    is_on_touch: bool = Field(True, title=_l("On phones and tablets"))
    keywords: list[str] = Field(default_factory=list, max_length=50, title=_l("Hot keywords"),
                                description=_l("One per line; the ad's keyword (utm_term) contains one of them."),
                                json_schema_extra={"widget": "lines"})
    is_ad_click_hot: bool = Field(True, title=_l("A click on an ad is hot"))
    is_direct_visit_hot: bool = Field(False, title=_l("A direct visit is hot"))
    after_active_s: int = Field(10, ge=0, le=600, title=_l("Open after, s of reading"))
    min_clicks_first_minute: int = Field(0, ge=0, le=100, title=_l("Clicks in the first minute (0: off)"))
    texts: TextsOverride = Field(default_factory=TextsOverride, title=_l("Texts of this scenario"),
                                 json_schema_extra=_section(WIDGET_TEXTS))

    _lower = field_validator("keywords")(lambda cls, values: _keyword_list(values))


class LongReader(BaseModel):
    """The long searcher (W4): reads long and actively, over several pages."""

    model_config = ConfigDict(extra="forbid")

    is_enabled: bool = Field(False, title=_l("On"))
    is_on_desktop: bool = Field(True, title=_l("On computers"))
    is_on_touch: bool = Field(True, title=_l("On phones and tablets"))
    min_active_s: int = Field(120, ge=0, le=3600, title=_l("Active reading at least, s"))
    min_scroll_pct: int = Field(50, ge=0, le=100, title=_l("Scrolled at least, %"))
    min_pages: int = Field(3, ge=1, le=100, title=_l("Pages viewed at least"))
    min_clicks: int = Field(0, ge=0, le=1000, title=_l("Clicks at least"))
    texts: TextsOverride = Field(default_factory=TextsOverride, title=_l("Texts of this scenario"),
                                 json_schema_extra=_section(WIDGET_TEXTS))


class Scenarios(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hot_visitor: HotVisitor = Field(default_factory=HotVisitor, title=_l("Catch hot visitors"))
    long_reader: LongReader = Field(default_factory=LongReader, title=_l("Long searcher"))
    exit_intent: ExitIntent = Field(default_factory=ExitIntent, title=_l("Catch on exit"))


SCENARIO_IDS = tuple(Scenarios.model_fields)


class KeywordRule(BaseModel):
    """Multi-widget (W7): other texts and colours for visitors matching every criterion given."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(default_factory=list, max_length=50, title=_l("Keywords"),
                                description=_l("One per line; the keyword contains one of them. Empty: any."),
                                json_schema_extra={"widget": "lines"})
    utm_source: str | None = Field(None, max_length=100, title="utm_source")
    utm_campaign: str | None = Field(None, max_length=100, title="utm_campaign")
    scenario: Literal["any", "hot_visitor", "long_reader", "exit_intent"] = Field(
        "any", title=_l("Scenario"),
        json_schema_extra={"labels": {"any": _l("Any"), "hot_visitor": _l("Catch hot visitors"),
                                      "long_reader": _l("Long searcher"), "exit_intent": _l("Catch on exit")}})
    texts: TextsOverride = Field(default_factory=TextsOverride, title=_l("Texts"))
    design: DesignOverride = Field(default_factory=DesignOverride, title=_l("Colours"))

    _lower = field_validator("keywords")(lambda cls, values: _keyword_list(values))


DEFAULT_CONSENT = (
    "Нажимая кнопку, я даю согласие на обработку моего номера телефона владельцем сайта и оператором связи "
    "ПАО «МТТ» для обратного звонка по моей заявке в соответствии с Федеральным законом от 27.07.2006 "
    "№ 152-ФЗ «О персональных данных». Согласие действует до достижения цели обработки и может быть отозвано "
    "письменным заявлением владельцу сайта.")


class SiteSettings(BaseModel):
    """Every setting of a site's widget and calls (the spec's script settings 1–15)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    timezone: str = Field("Europe/Moscow", title=_l("Time zone"),
                          json_schema_extra=_section(WIDGET_SETTINGS, choices="timezones"))
    schedule: WeeklySchedule = Field(default_factory=WeeklySchedule, title=_l("Working hours"),
                                     json_schema_extra=_section(WIDGET_SETTINGS))
    dial_mode: Literal["sequential", "simultaneous"] = Field(
        "sequential", title=_l("Ringing managers"),
        json_schema_extra=_section(WIDGET_SETTINGS, labels={"sequential": _l("In turn"),
                                                            "simultaneous": _l("All at once")}))
    is_random_order: bool = Field(False, title=_l("Random order (in turn only)"),
                                  json_schema_extra=_section(WIDGET_SETTINGS))
    ring_timeout_s: int = Field(20, ge=5, le=60, title=_l("How long each manager line rings, s"),
                                json_schema_extra=_section(WIDGET_SETTINGS))
    client_delay_s: int = Field(0, ge=0, le=60, title=_l("Delay before calling the visitor, s"),
                                description=_l("After the manager answers; 0 calls both at once."),
                                json_schema_extra=_section(WIDGET_SETTINGS))
    extension_delay_s: int = Field(0, ge=0, le=50, title=_l("Delay before dialing the extension, s"),
                                   json_schema_extra=_section(WIDGET_SETTINGS))
    caller_id: Literal["service", "client"] = Field(
        "service", title=_l("Number shown to the manager"),
        json_schema_extra=_section(WIDGET_SETTINGS, labels={"service": _l("The service's number"),
                                                            "client": _l("The visitor's number")}))
    is_site_announced: bool = Field(False, title=_l("Announce the site to the manager"),
                                    description=_l("Useful when the account has more than one site."),
                                    json_schema_extra=_section(WIDGET_SETTINGS))
    is_office_choice_offered: bool = Field(False, title=_l("Let the visitor choose an office"),
                                           json_schema_extra=_section(WIDGET_SETTINGS))
    offered_department_ids: list[int] = Field(default_factory=list, title=_l("Offices offered"),
                                              json_schema_extra=_section(WIDGET_SETTINGS, choices="departments"))
    default_country: str = Field("RU", title=_l("Default country code"),
                                 json_schema_extra=_section(WIDGET_SETTINGS, choices="countries"))
    allowed_countries: list[str] = Field(default_factory=lambda: ["RU"], min_length=1,
                                         title=_l("Countries the visitor may call from"),
                                         json_schema_extra=_section(WIDGET_SETTINGS, choices="countries"))
    sms_report_numbers: list[str] = Field(default_factory=list, max_length=5, title=_l("Numbers for SMS reports"),
                                          description=_l("One number per line, with the country code."),
                                          json_schema_extra=_section(WIDGET_SETTINGS, widget="lines"))
    is_sms_after_call: bool = Field(False, title=_l("SMS to the visitor after the call"),
                                    description=_l("With the manager's name when the manager's line says so."),
                                    json_schema_extra=_section(WIDGET_SETTINGS))
    is_client_retried: bool = Field(False, title=_l("Call the visitor once more if they did not answer"),
                                    description=_l("Then an SMS invites them to ask for a call again."),
                                    json_schema_extra=_section(WIDGET_SETTINGS))
    client_retry_delay_s: int = Field(60, ge=30, le=600, title=_l("Pause before calling the visitor again, s"),
                                      json_schema_extra=_section(WIDGET_SETTINGS))
    missed_call_email: EmailStr | None = Field(None, title=_l("E-mail for missed calls"),
                                               json_schema_extra=_section(WIDGET_SETTINGS))
    design: Design = Field(default_factory=Design, title=_l("Design"), json_schema_extra=_section(WIDGET_DESIGN))
    texts: Texts = Field(default_factory=Texts, title=_l("Texts"), json_schema_extra=_section(WIDGET_TEXTS))

    language: Literal["ru", "en"] = Field(
        "ru", title=_l("Language of the widget"),
        json_schema_extra=_section(WIDGET_TEXTS, labels={"ru": "Русский", "en": "English"}))
    scenarios: Scenarios = Field(default_factory=Scenarios, title=_l("When the widget opens"),
                                 json_schema_extra=_section(WIDGET_SETTINGS))
    keyword_rules: list[KeywordRule] = Field(
        default_factory=list, max_length=10, title=_l("Texts by keyword and UTM tags"),
        description=_l("The first rule that matches the visitor wins."), json_schema_extra=_section(WIDGET_TEXTS))
    consent_text: str = Field(DEFAULT_CONSENT, min_length=20, max_length=5000,
                              title=_l("Consent to the processing of personal data"),
                              json_schema_extra=_section(WIDGET_TEXTS, widget="textarea"))
    privacy_policy_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=500,
                                           title=_l("Link to the privacy policy"),
                                           json_schema_extra=_section(WIDGET_TEXTS))
    metrika_counter_id: int | None = Field(None, ge=1, le=10**12, title=_l("Yandex Metrica counter for goals"),
                                           json_schema_extra=_section(WIDGET_SETTINGS))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in known_zones():
            raise ValueError(str(_l("Unknown time zone.")))
        return value

    @field_validator("offered_department_ids")
    @classmethod
    def _own_departments(cls, values: list[int], info: ValidationInfo) -> list[int]:
        known = (info.context or {}).get("department_ids")
        if known is not None and not set(values) <= known:
            raise ValueError(str(_l("Choose among the account's own departments.")))
        return values

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        return _region(value)

    @field_validator("allowed_countries")
    @classmethod
    def _known_countries(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(_region(v) for v in values))

    @field_validator("sms_report_numbers")
    @classmethod
    def _e164(cls, values: list[str]) -> list[str]:
        return [_e164(v) for v in values if v.strip()]

    @model_validator(mode="after")
    def _default_is_allowed(self):
        if self.default_country not in self.allowed_countries:
            raise ValueError(str(_l("The default country must be one of the allowed countries.")))
        return self


@functools.cache
def known_zones() -> frozenset[str]:
    """Every IANA zone name; reading them walks the zone database, so once per process."""
    return frozenset(zoneinfo.available_timezones())


def _region(value: str) -> str:
    value = value.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(str(_l("Unknown country code %(code)s.", code=value)))
    return value


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, "RU")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(_l("%(value)s is not a phone number.", value=value))) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(str(_l("%(value)s is not a valid phone number.", value=value)))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class SettingsError(DomainError):
    code = "invalid_settings"

    def __init__(self, error: ValidationError):
        super().__init__(str(error))
        self.errors = error.errors()


def site_scope(site_id: int | None) -> str:
    return "account" if site_id is None else f"site:{site_id}"


def current_document(account_id: int, site_id: int | None) -> SettingsDocument | None:
    return db.session.scalar(
        sa.select(SettingsDocument)
        .where(SettingsDocument.account_id == account_id, SettingsDocument.scope == site_scope(site_id))
        .order_by(SettingsDocument.version.desc()).limit(1))


def _deep_merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def _diff(values: dict, inherited: dict) -> dict:
    """What `values` sets differently from `inherited`, nested dicts compared key by key."""
    out = {}
    for key, value in values.items():
        base = inherited.get(key)
        if isinstance(value, dict) and isinstance(base, dict):
            nested = _diff(value, base)
            if nested:
                out[key] = nested
        elif value != base:
            out[key] = value
    return out


def inherited_values(account_id: int, site_id: int | None) -> dict:
    """What a document of this scope inherits: defaults, plus the account's document for a site."""
    values = SiteSettings().model_dump(mode="json")
    if site_id is not None:
        account_doc = current_document(account_id, None)
        values = _deep_merge(values, account_doc.data if account_doc else {})
    return values


def effective_values(account_id: int, site_id: int | None) -> dict:
    document = current_document(account_id, site_id)
    return _deep_merge(inherited_values(account_id, site_id), document.data if document else {})


def effective_settings(account_id: int, site_id: int | None) -> SiteSettings:
    return SiteSettings.model_validate(effective_values(account_id, site_id))


def validate(account_id: int, site_id: int | None, values: dict) -> dict:
    """The full settings with `values` applied, validated; raises SettingsError with pydantic's errors (and
    the telephony provider's refusals, in the same form)."""
    merged = _deep_merge(effective_values(account_id, site_id), values)
    department_ids = set(db.session.scalars(sa.select(Department.id).where(Department.account_id == account_id)))
    try:
        settings = SiteSettings.model_validate(merged, context={"department_ids": department_ids})
    except ValidationError as exc:
        raise SettingsError(exc) from exc
    _refuse_unsupported(settings)
    return settings.model_dump(mode="json")


def _refuse_unsupported(settings: SiteSettings) -> None:
    """Settings the configured telephony provider cannot honour are refused when saved, each with the
    provider's message next to its field (rather than being dropped silently when a call is made)."""
    refused = telephony.settings_refusals(settings)
    if refused:
        raise SettingsError(ValidationError.from_exception_data(SiteSettings.__name__, [
            {"type": PydanticCustomError("provider_refused", message), "loc": (field,),
             "input": getattr(settings, field)} for field, message in refused.items()]))


def save(account_id: int, site_id: int | None, values: dict, user_id: int | None = None) -> SettingsDocument | None:
    """Validate the full settings and store what differs from the inherited values as a new version.

    Returns the new version, or None when nothing changed. Raises SettingsError with pydantic's errors.
    """
    data = _diff(validate(account_id, site_id, values), inherited_values(account_id, site_id))
    previous = current_document(account_id, site_id)
    if previous is not None and previous.data == data or previous is None and not data:
        return None
    document = SettingsDocument(account_id=account_id, site_id=site_id, scope=site_scope(site_id),
                                version=(previous.version + 1) if previous else 1, data=data,
                                created_by_id=user_id)
    db.session.add(document)
    db.session.flush()
    return document
