"""The price of a call (B3, ARCHITECTURE "Money"): started minutes × the leg's retail rate, rounded up per leg.

The table is checked against a reference written here independently: rates are read as whole hundredths of a
kopeck and rounded up with integer arithmetic, not with `tariffs.whole_kopecks`.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from app.extensions import db
from app.models import Tariff, TariffRate
from app.services import tariffs
from app.services.tariffs import Leg, TariffError

UTC = dt.UTC
RU_MOBILE = "+79161234567"
RU_FIXED = "+74951234567"
US_EITHER = "+12015550123"  # libphonenumber: FIXED_LINE_OR_MOBILE
DE_MOBILE = "+4915123456789"
GB_FIXED = "+442079460000"
SIP = "sip:sales@pbx.example"


def pricing_tariff(rates: dict[tuple[str, str, str], tuple[str, str]], threshold: int = 3, **extra) -> Tariff:
    """An unsaved tariff: {(country, class, leg): (retail, cost)} per minute, as strings of kopecks."""
    tariff = Tariff(id=99, name="Test", effective_from=dt.datetime(2026, 1, 1, tzinfo=UTC), rent_month_kop=0,
                    free_threshold_s=threshold, sms_retail_kop=extra.get("sms_retail", 300),
                    sms_cost_kop=extra.get("sms_cost", 200))
    tariff.rates = [TariffRate(country=c, number_class=k, leg=leg, retail_kop_per_min=Decimal(r),
                               cost_kop_per_min=Decimal(cost)) for (c, k, leg), (r, cost) in rates.items()]
    return tariff


FRACTIONAL = {
    ("RU", "mobile", "manager"): ("1.37", "0.99"), ("RU", "mobile", "client"): ("2.51", "1.01"),
    ("RU", "fixed", "manager"): ("0.01", "0.01"), ("RU", "fixed", "client"): ("0.99", "0.50"),
    ("*", "mobile", "manager"): ("15.00", "10.33"), ("*", "mobile", "client"): ("14.99", "9.07"),
    ("*", "fixed", "manager"): ("9.01", "6.66"), ("*", "fixed", "client"): ("8.50", "6.00"),
    ("US", "mobile", "client"): ("3.33", "2.22"),
}
ROUND = {k: (str(int(Decimal(r))), str(int(Decimal(c)))) for k, (r, c) in FRACTIONAL.items()}
DURATIONS = [0, 1, 3, 4, 59, 60, 61, 119, 3600]
NUMBERS = {  # number -> (country its rate is looked up under, class) as the rule says
    RU_MOBILE: ("RU", "mobile"), RU_FIXED: ("RU", "fixed"), US_EITHER: ("US", "mobile"),
    DE_MOBILE: ("*", "mobile"), GB_FIXED: ("*", "fixed"), SIP: ("*", "fixed"),
}


def reference_leg(seconds: int, rate: str, threshold: int) -> int:
    """Independent reference: hundredths of a kopeck as integers, started minutes, ceiling by integer division."""
    if seconds == 0 or seconds <= threshold:
        return 0
    minutes = seconds // 60 + (1 if seconds % 60 else 0)
    hundredths = int(Decimal(rate) * 100)
    assert Decimal(hundredths) / 100 == Decimal(rate)
    return -(-minutes * hundredths // 100)


def expected_rate(rates, number: str, leg: str) -> tuple[str, str]:
    country, kind = NUMBERS[number]
    return rates.get((country, kind, leg)) or rates[("*", kind, leg)]


@pytest.mark.parametrize("rates_name, threshold", [("fractional", 3), ("whole", 3), ("fractional", 0)])
@pytest.mark.parametrize("manager_number, client_number", [
    (RU_FIXED, RU_MOBILE), (SIP, US_EITHER), (RU_MOBILE, DE_MOBILE), (GB_FIXED, RU_FIXED)])
def test_price_table_matches_the_reference(rates_name, threshold, manager_number, client_number):
    rates = FRACTIONAL if rates_name == "fractional" else ROUND
    tariff = pricing_tariff(rates, threshold)
    for manager_s, client_s in itertools.product(DURATIONS, DURATIONS):
        price = tariffs.price_call(tariff, [Leg("manager", manager_number, manager_s),
                                            Leg("client", client_number, client_s)])
        m_retail, m_cost = expected_rate(rates, manager_number, "manager")
        c_retail, c_cost = expected_rate(rates, client_number, "client")
        expected = {
            "manager": (reference_leg(manager_s, m_retail, threshold), reference_leg(manager_s, m_cost, threshold)),
            "client": (reference_leg(client_s, c_retail, threshold), reference_leg(client_s, c_cost, threshold)),
        }
        got = {p.leg: (p.retail_kop, p.cost_kop) for p in price.legs}
        assert got == expected, (manager_s, client_s)
        assert price.retail_kop == expected["manager"][0] + expected["client"][0]
        assert price.cost_kop == expected["manager"][1] + expected["client"][1]
        assert all(type(p.retail_kop) is int and type(p.cost_kop) is int for p in price.legs)


@pytest.mark.parametrize("seconds, kopecks", [
    (0, 0), (3, 0), (4, 2), (60, 2), (61, 3), (119, 3), (120, 3), (121, 5), (3600, 83)])
def test_rounding_is_per_leg_and_up(seconds, kopecks):
    """1.37 kop/min: 1 min = 1.37 -> 2; 2 min = 2.74 -> 3; 3 min = 4.11 -> 5; 60 min = 82.20 -> 83."""
    price = tariffs.price_call(pricing_tariff(FRACTIONAL), [Leg("manager", RU_MOBILE, seconds)])
    assert price.retail_kop == kopecks


def test_rounding_per_leg_not_per_call():
    """Two legs of 0.01 kop/min for a minute each cost a kopeck each (2), not one kopeck for the call."""
    rates = {("RU", "fixed", "manager"): ("0.01", "0.01"), ("RU", "fixed", "client"): ("0.01", "0.01")}
    price = tariffs.price_call(pricing_tariff(rates), [Leg("manager", RU_FIXED, 60), Leg("client", RU_FIXED, 60)])
    assert [p.retail_kop for p in price.legs] == [1, 1]
    assert price.retail_kop == 2


def test_unanswered_and_short_legs_are_free_even_without_a_rate():
    tariff = pricing_tariff({("RU", "fixed", "manager"): ("150", "80")})
    price = tariffs.price_call(tariff, [Leg("manager", RU_FIXED, 45), Leg("client", DE_MOBILE, 3)])
    assert [(p.leg, p.minutes, p.retail_kop) for p in price.legs] == [("manager", 1, 150), ("client", 0, 0)]
    assert tariffs.price_call(tariff, [Leg("manager", RU_FIXED, 0), Leg("client", RU_MOBILE, 0)]).retail_kop == 0


def test_fixed_line_or_mobile_counts_as_mobile_and_sip_as_any_fixed():
    assert phonenumbers.number_type(phonenumbers.parse(US_EITHER)) == PhoneNumberType.FIXED_LINE_OR_MOBILE
    assert tariffs.destination(US_EITHER) == ("US", "mobile")
    assert tariffs.destination(SIP) == ("*", "fixed")
    assert tariffs.destination("SIP:100@pbx.example") == ("*", "fixed")
    assert tariffs.destination(RU_FIXED) == ("RU", "fixed")
    assert tariffs.destination("+78001234567") == ("RU", "fixed")  # toll free: not mobile
    assert tariffs.destination("+80012345678") == ("*", "fixed")  # international freephone: no country
    rates = {("*", "mobile", "client"): ("15", "10"), ("*", "fixed", "client"): ("9", "6")}
    assert tariffs.price_call(pricing_tariff(rates), [Leg("client", US_EITHER, 60)]).retail_kop == 15
    assert tariffs.price_call(pricing_tariff(rates), [Leg("client", SIP, 60)]).retail_kop == 9


def test_exact_country_first_then_any_country_then_an_error():
    rates = {("RU", "mobile", "client"): ("2.50", "1.50"), ("*", "mobile", "client"): ("15", "10")}
    tariff = pricing_tariff(rates)
    assert tariffs.rate_for(tariff, "RU", "mobile", "client").retail_kop_per_min == Decimal("2.50")
    assert tariffs.rate_for(tariff, "KZ", "mobile", "client").retail_kop_per_min == Decimal("15")
    with pytest.raises(TariffError) as err:
        tariffs.rate_for(tariff, "RU", "fixed", "client")
    assert err.value.code == "no_rate"
    with pytest.raises(TariffError):
        tariffs.price_call(tariff, [Leg("client", RU_FIXED, 61)])


@pytest.mark.parametrize("number", ["", "call me", "sip"])
def test_an_unreadable_number_of_a_billable_leg_is_an_error(number):
    with pytest.raises(TariffError) as err:
        tariffs.price_call(pricing_tariff(FRACTIONAL), [Leg("client", number, 61)])
    assert err.value.code == "bad_destination"


def test_unknown_leg_and_negative_seconds_are_errors():
    with pytest.raises(TariffError):
        tariffs.price_call(pricing_tariff(FRACTIONAL), [Leg("visitor", RU_MOBILE, 61)])
    with pytest.raises(TariffError):
        tariffs.price_call(pricing_tariff(FRACTIONAL), [Leg("client", RU_MOBILE, -1)])


def test_the_starting_tariff_prices_a_call(app_ctx):
    """The migration's tariff: RU mobile 2.50 RUB/min per leg; 61 s and 4 s cost 2 minutes + 1 minute."""
    tariff = tariffs.current_tariff()
    assert tariff.id == 1
    price = tariffs.price_call(tariff, [Leg("manager", RU_FIXED, 61), Leg("client", RU_MOBILE, 4)])
    assert (price.retail_kop, price.cost_kop) == (2 * 150 + 250, 2 * 80 + 150)


def test_a_newer_tariff_takes_effect_at_its_date(app_ctx):
    start = dt.datetime(2027, 3, 1, tzinfo=UTC)
    newer = Tariff(name="Spring", effective_from=start, rent_month_kop=120_000, free_threshold_s=5,
                   sms_retail_kop=400, sms_cost_kop=250,
                   rates=[TariffRate(country="*", number_class=k, leg=leg, retail_kop_per_min=Decimal("3.33"),
                                     cost_kop_per_min=Decimal("1.11"))
                          for k in ("mobile", "fixed") for leg in ("manager", "client")])
    db.session.add(newer)
    db.session.commit()
    before, at = start - dt.timedelta(microseconds=1), start
    assert tariffs.current_tariff(before).id == 1
    assert tariffs.current_tariff(at).id == newer.id
    assert tariffs.current_tariff(start + dt.timedelta(days=400)).id == newer.id
    legs = [Leg("manager", RU_MOBILE, 5), Leg("client", RU_MOBILE, 61)]
    assert tariffs.price_call(tariffs.current_tariff(before), legs).retail_kop == 250 + 2 * 250
    assert tariffs.price_call(tariffs.current_tariff(at), legs).retail_kop == 7  # 5 s free; 2 × 3.33 = 6.66 -> 7
    with pytest.raises(TariffError) as err:
        tariffs.current_tariff(dt.datetime(2025, 12, 31, tzinfo=UTC))
    assert err.value.code == "no_tariff"
