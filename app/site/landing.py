"""What the landing page (S1) shows beside its texts: the price list in force in brief and the measured speed."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import format_decimal
from flask_babel import gettext as _

from app.cache import cached
from app.db import utcnow
from app.models import Tariff
from app.services import stats
from app.site import tariffs as price_list

SPEED_WINDOW = dt.timedelta(days=30)
MIN_SPEED_SAMPLE = 20  # fewer connected calls than this: a percentile would say more about luck than the service
HOME_COUNTRY = "RU"


def measured_speed() -> stats.Speed:
    """All accounts' requests of the last 30 days that connected; cached briefly (a query over every account)."""
    return cached(("site.landing", "service_speed"), _speed_of_last_window)


def _speed_of_last_window() -> stats.Speed:
    end = utcnow()
    return stats.service_speed(end - SPEED_WINDOW, end)


def is_known(speed: stats.Speed) -> bool:
    return speed.count >= MIN_SPEED_SAMPLE


def seconds_text(value: float) -> str:
    """`22 s`, `20.5 s` in the current locale (one decimal at most)."""
    return _("%(s)s s", s=format_decimal(round(value, 1), format="#,##0.#"))


@dataclass(frozen=True)
class PriceSummary:
    """The price list in force as the landing page sums it up; the full list is on /tariffs."""

    tariff: Tariff
    home_rates: tuple[Decimal, Decimal] | None  # cheapest and dearest Russian price per minute of one leg
    best_discount: tuple[int, int] | None  # (months, percent off) of the longest period


def price_summary() -> PriceSummary | None:
    tariff = price_list.current_tariff()
    if tariff is None:
        return None
    home = [rate.retail_kop_per_min for rate in tariff.rates if rate.country == HOME_COUNTRY]
    discounts = price_list.discounts(tariff)
    return PriceSummary(tariff=tariff, home_rates=(min(home), max(home)) if home else None,
                        best_discount=discounts[-1] if discounts else None)
