"""Fraud guard (X1) on top of the abuse limits: which numbers may be dialed at all.

Only fixed-line and mobile numbers of a country are called. Premium-rate, shared-cost, toll-free, UAN,
personal, pager, VoIP and voicemail numbers, and the non-geographic ranges (+800, +881, +882, +883 …, region
"001"), are refused: calls to them are how toll fraud (IRSF) earns money.
"""
from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

CALLABLE_TYPES = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
                            PhoneNumberType.FIXED_LINE_OR_MOBILE})
NON_GEOGRAPHIC_REGION = "001"


def number_refusal(number: phonenumbers.PhoneNumber) -> str | None:
    """The reason code why `number` must not be dialed, or None for an ordinary fixed-line or mobile number."""
    if phonenumbers.region_code_for_number(number) == NON_GEOGRAPHIC_REGION:
        return "number_type_not_allowed"
    if phonenumbers.number_type(number) not in CALLABLE_TYPES:
        return "number_type_not_allowed"
    return None
