"""Tariffs in the back office (B1, B3): the administrator adds versions; a version in effect stays as it was."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from helpers import csrf_token, form_values, login, submit

from app.extensions import db
from app.models import AuditLog, Tariff, TariffRate

NEW = "/admin/tariffs/new/"


def _later(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def admin(app, make_staff_user):
    _, email, password = make_staff_user("admin")
    client = app.test_client()
    login(client, email, password)
    submit(client, "/lang/en", {}, page="/admin/tariffs/new/")  # WTForms' own messages, as tested, in English
    return client


@pytest.fixture
def manager(app, make_staff_user):
    _, email, password = make_staff_user("manager")
    client = app.test_client()
    login(client, email, password)
    return client


def _shown(client, url: str) -> tuple[dict, str]:
    """The admin form as the browser shows it (one value per field) and its CSRF token."""
    html = client.get(url).get_data(as_text=True)
    values = {name: values[-1] for name, values in form_values(html, "admin-form").items()}
    values.pop("csrf_token", None)
    return values, csrf_token(html)


def _post(client, url: str, changes: dict, page: str | None = None):
    values, token = _shown(client, page or url)
    return client.post(url, data={**values, **changes, "csrf_token": token})


def _snapshot(app) -> tuple:
    with app.app_context():
        tariffs = db.session.execute(sa.select(Tariff.id, Tariff.name, Tariff.effective_from, Tariff.rent_month_kop,
                                               Tariff.rent_discounts).order_by(Tariff.id)).all()
        rates = db.session.execute(sa.select(TariffRate.tariff_id, TariffRate.country, TariffRate.number_class,
                                             TariffRate.leg, TariffRate.retail_kop_per_min)
                                   .order_by(TariffRate.id)).all()
        return tariffs, rates


def _future_tariff(app, days: int = 60) -> int:
    with app.app_context():
        tariff = Tariff(name="Future", effective_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
                        rent_month_kop=120_000, rent_discounts={"6": 10}, free_threshold_s=3, sms_retail_kop=400,
                        sms_cost_kop=200,
                        rates=[TariffRate(country="RU", number_class="mobile", leg="client",
                                          retail_kop_per_min=Decimal("2.37"), cost_kop_per_min=Decimal("1.5"))])
        db.session.add(tariff)
        db.session.commit()
        return tariff.id


def test_the_create_form_starts_from_the_latest_version(admin):
    values, _ = _shown(admin, NEW)
    assert values["name"] == "Базовый" and values["rent_month_kop"] == "99000"
    assert values["rent_discounts"] == "3: 5, 6: 10, 12: 20"
    assert values["effective_from"] == ""
    assert values["rates-0-country"] == "RU" and values["rates-0-retail_kop_per_min"] == "250"
    assert "rates-7-leg" in values and "rates-8-leg" not in values


def test_the_administrator_creates_a_version_with_its_rates(app, admin):
    when = _later()
    response = _post(admin, NEW, {"name": "Весна", "effective_from": when, "rent_month_kop": "89000",
                                  "rent_discounts": "3: 5, 12: 25", "rates-0-retail_kop_per_min": "2,37",
                                  "rates-1-retail_kop_per_min": "0.01"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        tariff = db.session.scalar(sa.select(Tariff).where(Tariff.name == "Весна"))
        assert tariff.rent_month_kop == 89_000 and tariff.rent_discounts == {"3": 5, "12": 25}
        assert f"{tariff.effective_from:%Y-%m-%d %H:%M:%S}" == when
        assert len(tariff.rates) == 8
        assert [r.retail_kop_per_min for r in tariff.rates[:3]] == [Decimal("2.37"), Decimal("0.01"),
                                                                     Decimal("150")]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                 .where(AuditLog.table_name == "tariff", AuditLog.action == "create")) == 1


@pytest.mark.parametrize("changes, error", [
    ({"effective_from": "2020-01-01 00:00:00"}, "not in the past"),
    ({"rent_month_kop": "-1"}, "Number must be between 0 and 100000000"),
    ({"free_threshold_s": "61"}, "Number must be between 0 and 60"),
    ({"rates-0-retail_kop_per_min": "100000.01"}, "At most 100000 kopecks per minute"),
    ({"sms_retail_kop": "abc"}, "Not a valid integer value"),
    ({"rent_discounts": "3: 95"}, "from 0 to 90 percent"),
    ({"rent_discounts": "13: 5"}, "from 1 to 12"),
    ({"rent_discounts": "three months"}, "is not “months: percent”"),
    ({"rates-0-retail_kop_per_min": "2.375"}, "At most two decimal places"),
    ({"rates-0-cost_kop_per_min": "-1"}, "Must not be negative"),
    ({"rates-0-retail_kop_per_min": "NaN"}, "Not a valid decimal value"),
    ({"rates-0-retail_kop_per_min": "1e999999"}, "At most 100000 kopecks"),
    ({"rates-0-country": "XX"}, "two-letter ISO country code"),
    ({"rates-1-leg": "manager"}, "already a rate for this country"),
])
def test_invalid_input_is_a_form_error(app, admin, changes, error):
    before = _snapshot(app)
    response = _post(admin, NEW, {"name": "Bad", "effective_from": _later(), **changes})
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:1000]
    assert error in body.replace("&#34;", '"').replace("&#39;", "'")
    assert _snapshot(app) == before


def test_a_version_in_effect_cannot_be_edited(app, admin):
    before = _snapshot(app)
    page = admin.get("/admin/tariffs/edit/?id=1").get_data(as_text=True)
    assert "it cannot be changed" in page
    response = _post(admin, "/admin/tariffs/edit/?id=1",
                     {"name": "Rewritten", "effective_from": _later(), "rates-0-retail_kop_per_min": "1"})
    assert response.status_code == 200
    assert "it cannot be changed" in response.get_data(as_text=True)
    assert _snapshot(app) == before


def test_a_version_in_effect_cannot_be_deleted(app, admin):
    before = _snapshot(app)
    for url, data in (("/admin/tariffs/delete/", {"id": "1"}), ("/admin/tariffs/action/",
                                                                 {"action": "delete", "rowid": "1"})):
        token = csrf_token(admin.get("/admin/tariffs/").get_data(as_text=True))
        response = admin.post(url, data={**data, "url": "/admin/tariffs/", "csrf_token": token},
                              follow_redirects=True)
        assert response.status_code == 200
        assert "cannot be deleted" in response.get_data(as_text=True)
        assert _snapshot(app) == before


def test_a_scheduled_version_can_be_changed_and_withdrawn(app, admin):
    tariff_id = _future_tariff(app)
    url = f"/admin/tariffs/edit/?id={tariff_id}"
    response = _post(admin, url, {"name": "Future, changed", "rates-0-retail_kop_per_min": "3.1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        tariff = db.session.get(Tariff, tariff_id)
        assert tariff.name == "Future, changed" and tariff.rates[0].retail_kop_per_min == Decimal("3.1")
    # Moving it into the past would rewrite history: refused.
    response = _post(admin, url, {"effective_from": "2025-06-01 00:00:00"})
    assert response.status_code == 200 and "not in the past" in response.get_data(as_text=True)
    token = csrf_token(admin.get("/admin/tariffs/").get_data(as_text=True))
    response = admin.post("/admin/tariffs/delete/", data={"id": tariff_id, "url": "/admin/tariffs/",
                                                           "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Tariff, tariff_id) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TariffRate)
                                 .where(TariffRate.tariff_id == tariff_id)) == 0


def test_a_manager_reads_but_cannot_create(app, manager):
    assert manager.get("/admin/tariffs/").status_code == 403
    assert manager.get(NEW).status_code == 403
    before = _snapshot(app)
    token = csrf_token(manager.get("/admin/sites/new/").get_data(as_text=True))
    response = manager.post(NEW, data={"name": "Sneaky", "effective_from": _later(), "rent_month_kop": "1",
                                       "sms_retail_kop": "1", "sms_cost_kop": "1", "free_threshold_s": "3",
                                       "csrf_token": token})
    assert response.status_code == 403
    assert _snapshot(app) == before
    listing = manager.get("/admin/tariff-versions/")
    assert listing.status_code == 200 and "Базовый" in listing.get_data(as_text=True)
    details = manager.get("/admin/tariff-versions/details/?id=1").get_data(as_text=True)
    assert "RU mobile client: 250 / 150" in details
    assert manager.get("/admin/tariff-versions/new/").status_code == 302
    assert _snapshot(app) == before
