"""The price list as the public site (S1) and the cabinet (C4) show it: the version in force and the next one."""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import format_currency, get_locale
from flask_babel import lazy_gettext as _l

from app.db import utcnow
from app.extensions import db
from app.models import Tariff, TariffRate
from app.services import tariffs

ANY_COUNTRY = "*"
CLASS_LABELS = {"mobile": _l("mobile"), "fixed": _l("landline")}
LEG_LABELS = {"manager": _l("Call to your manager"), "client": _l("Call to the visitor")}


def current_tariff(at: dt.datetime | None = None) -> Tariff | None:
    """The version in force at `at` (now), as the prices of calls see it; None before the first one."""
    try:
        return tariffs.current_tariff(at)
    except tariffs.TariffError:
        return None


def next_tariff(at: dt.datetime | None = None) -> Tariff | None:
    """The nearest version scheduled after `at` (now), if any."""
    return db.session.scalar(sa.select(Tariff).where(Tariff.effective_from > (at or utcnow()))
                             .order_by(Tariff.effective_from).limit(1))


def rate_money(kop: Decimal | int) -> str:
    """A per-minute price in roubles: kopecks with up to two decimals, so up to four places, none lost.

    `2,37 ₽`, `0,0137 ₽`, `2,505 ₽` in Russian; the locale's own currency layout otherwise.
    """
    pattern = get_locale().currency_formats["standard"].pattern.replace("0.00", "0.00##", 1)
    return format_currency(Decimal(kop) / 100, "RUB", format=pattern, currency_digits=False)


def country_name(code: str) -> str:
    if code == ANY_COUNTRY:
        return str(_l("Other countries"))
    return get_locale().territories.get(code, code)


@dataclasses.dataclass(frozen=True)
class RateRow:
    """One destination (country and number class) with the price of each leg."""

    key: tuple[str, str]
    label: str
    prices: dict[str, Decimal]  # leg -> retail kopecks per minute


def _order(country: str, number_class: str) -> tuple:
    # Russia first, named countries by code, "any other country" last; mobile before landline.
    return (country != "RU", country == ANY_COUNTRY, country, number_class != "mobile")


def rate_rows(tariff: Tariff) -> list[RateRow]:
    by_destination: dict[tuple[str, str], dict[str, Decimal]] = {}
    for rate in tariff.rates:
        by_destination.setdefault((rate.country, rate.number_class), {})[rate.leg] = rate.retail_kop_per_min
    return [RateRow(key, f"{country_name(key[0])}, {CLASS_LABELS.get(key[1], key[1])}", prices)
            for key, prices in sorted(by_destination.items(), key=lambda item: _order(*item[0]))]


def discounts(tariff: Tariff) -> list[tuple[int, int]]:
    """(months, percent off) from the shortest period."""
    return sorted((int(months), int(percent)) for months, percent in (tariff.rent_discounts or {}).items())


def _rate_key(rate: TariffRate) -> tuple[str, str, str]:
    return rate.country, rate.number_class, rate.leg


def changes(old: Tariff, new: Tariff) -> list[tuple[str, str, str]]:
    """What a newer version changes, as (what, before, after) texts; the same price list gives none."""
    from app.templating import money

    out = []
    if old.rent_month_kop != new.rent_month_kop:
        out.append((str(_l("Rent per month")), money(old.rent_month_kop), money(new.rent_month_kop)))
    if discounts(old) != discounts(new):
        out.append((str(_l("Discounts for longer periods")), _discount_text(old), _discount_text(new)))
    if old.free_threshold_s != new.free_threshold_s:
        out.append((str(_l("Free threshold")), str(_l("%(s)s s", s=old.free_threshold_s)),
                    str(_l("%(s)s s", s=new.free_threshold_s))))
    if old.sms_retail_kop != new.sms_retail_kop:
        out.append((str(_l("SMS")), money(old.sms_retail_kop), money(new.sms_retail_kop)))
    before = {_rate_key(r): r.retail_kop_per_min for r in old.rates}
    after = {_rate_key(r): r.retail_kop_per_min for r in new.rates}
    for key in sorted(before.keys() | after.keys(), key=lambda k: (*_order(k[0], k[1]), k[2])):
        if before.get(key) != after.get(key):
            country, number_class, leg = key
            destination = f"{country_name(country)}, {CLASS_LABELS.get(number_class, number_class)}"
            what = f"{LEG_LABELS.get(leg, leg)}: {destination}"
            out.append((what, _per_minute(before.get(key)), _per_minute(after.get(key))))
    return out


def _per_minute(kop: Decimal | None) -> str:
    return "—" if kop is None else str(_l("%(price)s per minute", price=rate_money(kop)))


def _discount_text(tariff: Tariff) -> str:
    return ", ".join(str(_l("%(months)s mo.: −%(percent)s%%", months=m, percent=p)) for m, p in discounts(tariff)) \
        or "—"
