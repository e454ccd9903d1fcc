"""Request and response bodies of the public API, validated with pydantic; the OpenAPI document is built from them."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

Text = Field(None, max_length=200)
Url = Field(None, max_length=2000)


class Utm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    utm_source: str | None = Text
    utm_medium: str | None = Text
    utm_campaign: str | None = Text
    utm_term: str | None = Text
    utm_content: str | None = Text


class Visitor(BaseModel):
    """What the widget knows about the visitor (W6). Unknown fields are ignored, so newer widgets still work."""

    model_config = ConfigDict(extra="ignore")

    session_id: str | None = Field(None, max_length=64)
    page_url: str | None = Url
    landing_url: str | None = Url
    referrer: str | None = Url
    utm: Utm = Field(default_factory=Utm)
    keyword: str | None = Text
    source: str | None = Field(None, max_length=16)
    click_id: str | None = Text
    scenario: str | None = Field(None, max_length=32)
    variant: str | None = Field(None, max_length=32)
    device: Literal["desktop", "touch"] | None = None
    pages: int | None = Field(None, ge=0, le=100_000)
    active_s: int | None = Field(None, ge=0, le=10_000_000)


class CallbackIn(BaseModel):
    """A visitor asks to be called back. `phone` is checked by libphonenumber and gives `invalid_phone`."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=200, description="As typed, best with the country code (+7…).")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166 code the number is read in.")
    consent: StrictBool = Field(False, description="The visitor agreed to the consent text (W13).")
    consent_version: str | None = Field(None, max_length=64, description="`consent.version` of the configuration.")
    department_id: int | None = Field(None, description="An office offered in the configuration (W8).")
    scheduled_for: AwareDatetime | None = Field(None, description="One of `schedule.slots` (W12).")
    visitor: Visitor = Field(default_factory=Visitor)
    website: str = Field("", max_length=200, description="A hidden field people never see: left empty.")
    form_ms: int | None = Field(None, ge=0, description="Milliseconds from the form shown to its submission.")


class CallbackCreated(BaseModel):
    id: int
    status_token: str = Field(description="Pass as `token` to read the status.")
    mode: Literal["instant", "scheduled", "passive"]
    eta_seconds: int = Field(description="Seconds until the call: the promise for `instant`.")
    scheduled_for: dt.datetime | None = None


class CallbackStatus(BaseModel):
    id: int
    status: Literal["received", "scheduled", "queued", "dialing", "manager_answered", "connected", "completed",
                    "rejected", "passive", "expired"]
    outcome: Literal["success", "manager_no_answer", "client_no_answer", "failed"] | None = None
    duration_s: int | None = None
    mode: str
    scheduled_for: dt.datetime | None = None


class WidgetEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["shown", "closed", "submitted"]
    scenario: str | None = Field(None, max_length=32)
    variant: str | None = Field(None, max_length=32)


class EventsIn(BaseModel):
    """A batch of widget events, sent with `navigator.sendBeacon` (any content type is read as JSON)."""

    model_config = ConfigDict(extra="ignore")

    session_id: str | None = Field(None, max_length=64)
    device: Literal["desktop", "touch"] | None = None
    events: list[WidgetEvent] = Field(min_length=1, max_length=20)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable: the widget and integrations branch on it.")
    message: str = Field(description="For people, in the site's language.")
    fields: dict[str, str] | None = Field(None, description="For `invalid_request`: what is wrong where.")


class Error(BaseModel):
    error: ErrorDetail


class WidgetConfig(BaseModel):
    """Everything the widget needs (A2); see docs/widget.md for each part."""

    model_config = ConfigDict(extra="allow")

    site: str
    lang: Literal["ru", "en"]
    mode: Literal["instant", "scheduled", "passive"]
    eta_seconds: int
    texts: dict
    design: dict
    scenarios: list[dict]
    rules: list[dict]
    exit: dict
    offices: list[dict]
    countries: dict
    operator: dict
    consent: dict
    schedule: dict
    analytics: dict
    strings: dict


class Health(BaseModel):
    status: Literal["ok"]
