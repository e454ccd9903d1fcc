"""Tariffs: the version in force, where a number goes (country, mobile or fixed), and THE price of a call.

`price_call` is the one function that prices a call (ARCHITECTURE "Money"); everything that charges or
estimates a call (charges, the dialing gate, statements) goes through it.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import phonenumbers
import sqlalchemy as sa
from phonenumbers import PhoneNumberType

from app.db import utcnow
from app.extensions import db
from app.models import Tariff, TariffRate
from app.services import DomainError

LEGS = ("manager", "client")
ANY_COUNTRY = "*"
# Numbers stored without "+" are read as dialled from Russia (MTT's home country).
DEFAULT_REGION = "RU"
# FIXED_LINE_OR_MOBILE is a number libphonenumber cannot tell apart (e.g. the US): it counts as mobile, the
# dearer class, so a call is never priced below what it may cost. Every other type (FIXED_LINE, TOLL_FREE,
# PREMIUM_RATE, SHARED_COST, VOIP, PERSONAL_NUMBER, PAGER, UAN, VOICEMAIL, UNKNOWN) counts as fixed.
MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class TariffError(DomainError):
    code = "tariff_error"


def current_tariff(at: dt.datetime | None = None) -> Tariff:
    """The tariff in force at `at` (now by default): the latest with `effective_from <= at`."""
    at = at or utcnow()
    tariff = db.session.execute(
        sa.select(Tariff).where(Tariff.effective_from <= at).order_by(Tariff.effective_from.desc()).limit(1)
    ).scalar_one_or_none()
    if tariff is None:
        raise TariffError(f"no tariff is in force at {at:%Y-%m-%d %H:%M}", code="no_tariff")
    return tariff


def destination(number: str) -> tuple[str, str]:
    """(country, number class) of a number: ISO country or "*", and "mobile" or "fixed".

    A `sip:` URI (a manager's SIP line) is ("*", "fixed"). A number of no country (non-geographic +800 ...)
    is of country "*". The number need not be valid (a call already made is priced all the same), only
    readable; an unreadable one raises TariffError.
    """
    number = (number or "").strip()
    if number.lower().startswith("sip:"):
        return ANY_COUNTRY, "fixed"
    try:
        parsed = phonenumbers.parse(number, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise TariffError(f"{number!r} is not a phone number", code="bad_destination") from exc
    region = phonenumbers.region_code_for_number(parsed)
    country = region if region and len(region) == 2 and region.isalpha() else ANY_COUNTRY
    number_class = "mobile" if phonenumbers.number_type(parsed) in MOBILE_TYPES else "fixed"
    return country, number_class


def rate_for(tariff: Tariff, country: str, number_class: str, leg: str) -> TariffRate:
    """The tariff's rate for the leg: the exact country's, else the "*" one; TariffError if neither exists."""
    by_country = {rate.country: rate for rate in tariff.rates
                  if rate.number_class == number_class and rate.leg == leg}
    rate = by_country.get(country) or by_country.get(ANY_COUNTRY)
    if rate is None:
        raise TariffError(f"tariff {tariff} has no {leg} rate for {number_class} numbers of {country}",
                          code="no_rate")
    return rate


@dataclass(frozen=True)
class Leg:
    leg: str  # "manager" or "client"
    number: str  # E.164 or a sip: URI
    billable_s: int  # 0 when the leg was not answered


@dataclass(frozen=True)
class LegPrice:
    leg: str
    number: str
    billable_s: int
    minutes: int  # started minutes charged (0 for a free leg)
    retail_kop: int
    cost_kop: int  # MTT's cost by the tariff's cost column


@dataclass(frozen=True)
class CallPrice:
    tariff_id: int
    legs: tuple[LegPrice, ...]

    @property
    def retail_kop(self) -> int:
        return sum(leg.retail_kop for leg in self.legs)

    @property
    def cost_kop(self) -> int:
        return sum(leg.cost_kop for leg in self.legs)


def whole_kopecks(amount: Decimal) -> int:
    """A Decimal amount of kopecks rounded up (towards +infinity) to whole kopecks."""
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def started_minutes(billable_s: int, free_threshold_s: int) -> int:
    """Minutes charged for a leg: 0 at or under the free threshold (and for an unanswered leg), else ceil(s/60)."""
    if billable_s < 0:
        raise TariffError("billable seconds cannot be negative", code="bad_duration")
    return 0 if billable_s <= free_threshold_s else math.ceil(billable_s / 60)


def price_call(tariff: Tariff, legs: Iterable[Leg]) -> CallPrice:
    """THE price of a call under `tariff`.

    For each leg (manager, client): if its billable seconds are above the tariff's free threshold, it costs
    its started minutes (ceil(seconds / 60)) × the retail rate per minute of its destination (country and
    mobile/fixed class, see `destination` and `rate_for`), rounded UP per leg to whole kopecks
    (Decimal, ROUND_CEILING). A leg at or under the threshold, or unanswered (0 s), is free. MTT's cost per
    leg follows the same rule with the tariff's cost column. The call's price is the sum of its legs.
    Raises TariffError for an unknown leg name, an unreadable number or a destination the tariff lacks.
    """
    priced = []
    for leg in legs:
        if leg.leg not in LEGS:
            raise TariffError(f"unknown leg {leg.leg!r}", code="bad_leg")
        minutes = started_minutes(leg.billable_s, tariff.free_threshold_s)
        if minutes == 0:
            priced.append(LegPrice(leg.leg, leg.number, leg.billable_s, 0, 0, 0))
            continue
        rate = rate_for(tariff, *destination(leg.number), leg.leg)
        priced.append(LegPrice(leg.leg, leg.number, leg.billable_s, minutes,
                               whole_kopecks(minutes * rate.retail_kop_per_min),
                               whole_kopecks(minutes * rate.cost_kop_per_min)))
    return CallPrice(tariff.id, tuple(priced))
