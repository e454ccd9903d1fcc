"""Telephony providers: the interface the dialer uses (`base`) and its adapters (`mtt`). HTTP only, no database."""
from dialer.providers.base import (
    CallbackPlan,
    CallbackProvider,
    CallRecord,
    Capabilities,
    Capability,
    InvalidEvent,
    LegRecord,
    ManagerLeg,
    ProviderError,
    ProviderEvent,
    SmsResult,
    StartResult,
    UnsupportedPlan,
)

__all__ = [
    "CallRecord",
    "CallbackPlan",
    "CallbackProvider",
    "Capabilities",
    "Capability",
    "InvalidEvent",
    "LegRecord",
    "ManagerLeg",
    "ProviderError",
    "ProviderEvent",
    "SmsResult",
    "StartResult",
    "UnsupportedPlan",
]
