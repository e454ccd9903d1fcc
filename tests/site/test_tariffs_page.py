"""The public price list (S1, C4): the version in force, a scheduled one announced with what it changes."""
from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

from helpers import login, submit

from app.extensions import db
from app.models import Tariff, TariffRate


def _text(response) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split()))


def _add_version(app, *, days: float, rates=None, **fields) -> None:
    with app.app_context():
        base = db.session.get(Tariff, 1)
        values = {"name": "Весна", "rent_month_kop": base.rent_month_kop, "rent_discounts": base.rent_discounts,
                  "free_threshold_s": base.free_threshold_s, "sms_retail_kop": base.sms_retail_kop,
                  "sms_cost_kop": base.sms_cost_kop, **fields}
        rates = rates if rates is not None else {(r.country, r.number_class, r.leg): r.retail_kop_per_min
                                                 for r in base.rates}
        rows = [TariffRate(country=c, number_class=k, leg=leg, retail_kop_per_min=price, cost_kop_per_min=Decimal("1"))
                for (c, k, leg), price in rates.items()]
        db.session.add(Tariff(effective_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=days), **values, rates=rows))
        db.session.commit()


def test_the_page_shows_the_seeded_prices_in_russian(client):
    response = client.get("/tariffs")
    assert response.status_code == 200
    text = _text(response)
    assert "Базовый" in text
    assert "990,00 ₽" in text  # rent per month
    assert "−5 %" in text and "−10 %" in text and "−20 %" in text
    assert "2,50 ₽" in text and "1,50 ₽" in text and "15,00 ₽" in text and "9,00 ₽" in text  # per minute
    assert "3,00 ₽" in text  # SMS
    assert "From" not in text and 'data-testid="upcoming"' not in response.get_data(as_text=True)


def test_the_landing_page_links_to_the_price_list(client):
    assert 'href="/tariffs"' in client.get("/").get_data(as_text=True)


def test_english(client):
    submit(client, "/lang/en", {"next": "/tariffs"}, page="/tariffs")
    text = _text(client.get("/tariffs"))
    assert "Tariffs" in text and "Per month" in text
    assert "RUB990.00" in text and "RUB3.00" in text
    assert "Russia, mobile" in text and "Other countries, landline" in text
    assert "Calls shorter than 3 seconds are free." in text


def test_fractions_of_a_kopeck_are_shown_exactly(app, client):
    _add_version(app, days=-0.001, rates={("RU", "mobile", "client"): Decimal("2.37"),
                                          ("RU", "mobile", "manager"): Decimal("0.01"),
                                          ("KZ", "fixed", "client"): Decimal("12.5")})
    text = _text(client.get("/tariffs"))
    assert "Весна" in text
    assert "0,0237 ₽" in text and "0,0001 ₽" in text and "0,125 ₽" in text
    assert text.index("Россия") < text.index("Казахстан")


def test_a_scheduled_version_is_announced_with_its_changes(app, client):
    rates = {("RU", "mobile", "client"): Decimal("300"), ("RU", "mobile", "manager"): Decimal("250")}
    _add_version(app, days=10, rent_month_kop=89_000, rates=rates)
    body = client.get("/tariffs").get_data(as_text=True)
    assert 'data-testid="upcoming"' in body
    text = _text(client.get("/tariffs"))
    assert "Базовый" in text.split("Весна")[0]  # the version in force comes first
    assert "990,00 ₽ 890,00 ₽" in text
    assert "2,50 ₽ в минуту 3,00 ₽ в минуту" in text or "2,50 ₽ per minute 3,00 ₽ per minute" in text
    assert "—" in text  # a rate the new version drops


def test_no_price_list_yet(app, client):
    with app.app_context():
        db.session.delete(db.session.get(Tariff, 1))
        db.session.commit()
    response = client.get("/tariffs")
    assert response.status_code == 200
    assert "being prepared" in _text(client.get("/tariffs")) or "готовится" in _text(client.get("/tariffs"))


def test_the_cabinet_shows_the_tariff_in_force(app, client, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)
    body = client.get("/cabinet/").get_data(as_text=True)
    assert 'data-testid="tariff"' in body
    text = _text(client.get("/cabinet/"))
    assert "Базовый: 990,00 ₽" in text and 'href="/tariffs"' in body
