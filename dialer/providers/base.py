"""The telephony provider interface: what the dialer asks of any operator, as plain data and one Protocol.

Adapters speak HTTP only and never touch the database; the dialer builds a `CallbackPlan` from its rows,
stores what comes back, and decides what to do next. Several operators may implement this (MTT now, others
later), which is why this is the one place with a class hierarchy.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

RingMode = Literal["sequential", "simultaneous"]
Side = Literal["A", "B"]


def N_(message: str) -> str:
    """Mark a message for the translation catalogue (`make extract-messages`); the caller translates it where a
    person reads it (adapters know nothing of Flask)."""
    return message


class ProviderError(Exception):
    """The provider could not do what was asked; `code` is stable for logs and decisions."""

    code = "provider_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UnsupportedPlan(ProviderError):
    """The plan asks for something this provider declared it cannot honour (see `Capabilities.refused`)."""

    code = "unsupported"


class InvalidEvent(ProviderError):
    """A provider event whose content is not one this provider documents."""

    code = "invalid_event"


class Capability(enum.StrEnum):
    """Features a provider may or may not honour; the comment names the requirement each serves."""

    SEQUENTIAL = "sequential"  # D2: next manager when one does not answer or is busy
    SIMULTANEOUS = "simultaneous"  # D2: ring all managers at once
    SIP_LEGS = "sip_legs"  # D1: a manager line that is a SIP address rather than a phone number
    CLIENT_DIAL_DELAY = "client_dial_delay"  # D3: pause between the manager answering and dialing the client
    EXTENSION_DTMF = "extension_dtmf"  # D4: dial a manager's extension (DTMF) after a delay
    CALLER_ID_FOR_MANAGER = "caller_id_for_manager"  # D5: choose the number the manager sees
    ANNOUNCEMENT = "announcement"  # D6: a spoken prompt to the manager naming the site
    MAX_DURATION = "max_duration"  # billing: cap a call at what the balance covers
    CANCEL = "cancel"  # end a call in progress from our side
    SMS = "sms"  # D10/D11: text messages through the operator


@dataclass(frozen=True)
class Capabilities:
    """Which capabilities a provider honours and, for each one it refuses, the message shown when a setting
    that needs it is saved (English; the caller translates). Every `Capability` is in exactly one of the two."""

    honoured: frozenset[Capability]
    refused: Mapping[Capability, str]

    def __post_init__(self):
        overlap = self.honoured & set(self.refused)
        missing = set(Capability) - self.honoured - set(self.refused)
        if overlap or missing:
            raise ValueError(f"capabilities must be decided once each: overlap {overlap}, undecided {missing}")

    def honours(self, capability: Capability) -> bool:
        return capability in self.honoured

    def refusal(self, capability: Capability) -> str | None:
        """The human message explaining why `capability` is refused, or None when it is honoured."""
        return self.refused.get(capability)


@dataclass(frozen=True)
class ManagerLeg:
    """One manager line to ring (the A side). `address` is a phone number in E.164 (`+7999...`) or, for
    kind "sip", a SIP address. `order` starts at 1; equal orders ring together in simultaneous mode."""

    order: int
    address: str
    name: str
    ring_timeout_s: int
    kind: Literal["phone", "sip"] = "phone"
    extension: str | None = None


@dataclass(frozen=True)
class CallbackPlan:
    """Everything one dialing attempt needs, decided by the dialer before the provider is called.

    `client_dial_delay_s` (D3) and `extension_delay_s` (D4) are what the settings ask for; a provider that
    realises D3 through a prompt expects `announcement_prompt_id` to name a prompt that already contains
    the pause (see `dialer.providers.prompts`). `events_url` carries the attempt's secret token.
    """

    legs: tuple[ManagerLeg, ...]
    ring_mode: RingMode
    client_number: str
    events_url: str
    max_duration_s: int
    caller_id_for_manager: str | None = None
    caller_id_for_client: str | None = None
    announcement_prompt_id: str | None = None
    client_dial_delay_s: int = 0
    extension_delay_s: int = 0
    record: bool = True
    description: str | None = None


@dataclass(frozen=True)
class StartResult:
    """The outcome of asking the provider to start a call.

    - `accepted`: the provider took the call; `call_id` is its id.
    - `rejected`: the provider surely did not dial (an error answer, or it could not be reached); `code` says why.
    - `unknown`: the request may have reached the provider but no answer came back. The caller must reconcile
      (fetch the call record, ask support) and must never redial on its own: a second call may ring a manager
      twice and costs money twice.
    """

    status: Literal["accepted", "rejected", "unknown"]
    call_id: str | None = None
    code: str | None = None
    detail: str = ""
    requests_sent: int = 1

    @property
    def is_accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class LegRecord:
    """One side of a finished (or running) call as the provider reports it."""

    side: Side
    destination: str
    answered: bool
    talk_s: int
    charged_s: int
    waiting_s: int
    recording_url: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """The provider's record of a call: the source of outcomes and billing (events are only hints).

    `cost_kop` is the provider's cost in kopecks when it reports one in roubles; `is_final` says the record
    will not change any more, so it may be billed."""

    call_id: str
    legs: tuple[LegRecord, ...]
    is_final: bool
    cost_kop: int | None = None
    cost_raw: str | None = None
    currency: str | None = None
    description: str | None = None

    def leg(self, side: Side) -> LegRecord | None:
        return next((leg for leg in self.legs if leg.side == side), None)


@dataclass(frozen=True)
class ProviderEvent:
    """A normalised call event: the manager (A) or the client (B) answered, or hung up."""

    kind: Literal["answered", "ended"]
    call_id: str
    side: Side
    at: datetime
    raw: str


@dataclass(frozen=True)
class SmsResult:
    """The outcome of sending an SMS, with the same three cases as `StartResult` (unknown: never resend blindly)."""

    status: Literal["sent", "rejected", "unknown"]
    message_id: str | None = None
    code: str | None = None
    detail: str = ""


def utcnow() -> datetime:
    return datetime.now(UTC)


class CallbackProvider(Protocol):
    """What every telephony adapter offers the dialer."""

    name: str
    capabilities: Capabilities

    def start_callback(self, plan: CallbackPlan) -> StartResult:
        """Ask the provider to ring the managers and then the client; never retried after an unknown outcome."""

    def cancel(self, call_id: str) -> None:
        """End a call in progress (raises UnsupportedPlan when the provider cannot)."""

    def fetch_call_record(self, call_id: str) -> CallRecord | None:
        """The provider's record of the call, or None when it has none (yet)."""

    def parse_event(self, params: Mapping[str, str], received_at: datetime | None = None) -> ProviderEvent:
        """Normalise an event request's query/form parameters (the caller has checked the URL's token)."""

    def send_sms(self, sender: str, destination: str, text: str) -> SmsResult:
        """Send one SMS from `sender` (the operator-approved name or number) to `destination`."""

    def upload_prompt(self, name: str, wav: bytes) -> str:
        """Store an audio prompt with the provider; returns the id a plan names it by."""


__all__ = [
    "Capabilities",
    "Capability",
    "CallRecord",
    "CallbackPlan",
    "CallbackProvider",
    "InvalidEvent",
    "LegRecord",
    "ManagerLeg",
    "ProviderError",
    "ProviderEvent",
    "RingMode",
    "Side",
    "SmsResult",
    "StartResult",
    "UnsupportedPlan",
    "utcnow",
]
