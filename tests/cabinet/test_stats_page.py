"""The cabinet's statistics page (issue 9 part 1): numbers of the account's own period and site, 404 for another
account's site, 403 without `stats.view`, the rent-ended page when the service is stopped."""
from __future__ import annotations

import datetime as dt

import pytest
from helpers import login, set_global_setting
from request_rows import request_row

from app.db import utcnow
from app.extensions import db
from app.models import Account
from app.services import sites
from app.services.permissions import CLIENT_DEFAULTS


@pytest.fixture
def shops(app, make_client_user):
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            account = db.session.get(Account, account_id)
            account.locale, account.timezone = "en", "Asia/Vladivostok"
            site_ids = [sites.create_site(account, f"{name} {n}", [f"https://{name}{n}.example"]).id for n in (1, 2)]
            db.session.commit()
        client = app.test_client()
        login(client, email, password)
        out[name] = {"client": client, "account": account_id, "sites": site_ids}
    return out


def add(app, account_id, site_id, created_at, **fields):
    with app.app_context():
        db.session.add(request_row(account_id, site_id, created_at=created_at, **fields))
        db.session.commit()


def stat(html: str, name: str) -> str:
    marker = f'data-testid="stat-{name}">'
    return html.split(marker, 1)[1].split("<", 1)[0].strip()


def test_the_page_shows_the_accounts_own_numbers_by_site(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    now = utcnow()
    add(app, alpha["account"], alpha["sites"][0], now, status="completed", outcome="success", source="google")
    add(app, alpha["account"], alpha["sites"][1], now, status="completed", outcome="manager_no_answer")
    for _ in range(3):
        add(app, beta["account"], beta["sites"][0], now, status="completed", outcome="success")

    page = alpha["client"].get("/cabinet/stats?period=today")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert stat(html, "requests") == "2" and stat(html, "answered").startswith("1 (50")
    assert "google" in html and "Talked" in html and 'data-testid="stat-spend"' in html

    one = alpha["client"].get(f"/cabinet/stats?period=week&site={alpha['sites'][1]}").get_data(as_text=True)
    assert stat(one, "requests") == "1" and stat(one, "answered").startswith("0")
    assert 'data-testid="stat-spend"' not in one  # spend is per account, not per site

    assert stat(beta["client"].get("/cabinet/stats").get_data(as_text=True), "requests") == "3"
    assert alpha["client"].get(f"/cabinet/stats?site={beta['sites'][0]}").status_code == 404


def test_a_custom_period_and_bad_input(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], dt.datetime(2026, 3, 9, 13, 30, tzinfo=dt.UTC))  # 23:30 VVO
    html = alpha["client"].get("/cabinet/stats?period=custom&from=2026-03-09&to=2026-03-09").get_data(as_text=True)
    assert stat(html, "requests") == "1" and "2026-03-09" in html
    html = alpha["client"].get("/cabinet/stats?period=custom&from=2026-03-10&to=2026-03-10").get_data(as_text=True)
    assert stat(html, "requests") == "0"
    for query in ("period=custom&from=bad", "period=fortnight", "period=custom&from=2026-03-10&to=2026-03-01"):
        assert alpha["client"].get(f"/cabinet/stats?{query}").status_code == 200, query


def test_without_stats_view_the_page_is_403(app, shops):
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "stats.view"])
    assert shops["alpha"]["client"].get("/cabinet/stats").status_code == 403


def test_an_expired_account_gets_the_rent_ended_page(app, shops):
    alpha = shops["alpha"]
    with app.app_context():
        db.session.get(Account, alpha["account"]).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
    page = alpha["client"].get("/cabinet/stats")
    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert shops["beta"]["client"].get("/cabinet/stats").status_code == 200


def test_strangers_log_in(client):
    assert "/login" in client.get("/cabinet/stats").headers["Location"]


def test_the_charts_are_svg_with_translated_labels_and_their_numbers_as_tables(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    now = utcnow()
    add(app, alpha["account"], alpha["sites"][0], now, status="completed", outcome="success", source="<b>ads</b>")
    add(app, alpha["account"], alpha["sites"][0], now, status="completed", outcome="client_no_answer", source="mail")
    add(app, alpha["account"], alpha["sites"][1], now, status="rejected")
    add(app, beta["account"], beta["sites"][0], now, status="completed", outcome="success", source="beta-secret")
    html = alpha["client"].get("/cabinet/stats?period=week").get_data(as_text=True)
    for key in ("days", "sources", "hours"):
        figure = html.split(f'data-testid="chart-{key}"', 1)[1].split("</figure>", 1)[0]
        assert 'role="img"' in figure and "<title " in figure and "<desc " in figure and 'width="100%"' in figure
        assert f'data-testid="chart-{key}-table"' in figure and "<rect " in figure, key
    legend = html.split('data-testid="chart-days-legend"', 1)[1].split("</ul>", 1)[0]
    assert "Talked" in legend and "The visitor did not answer" in legend and "No outcome" in legend
    assert "client_no_answer" not in legend and "No manager answered" not in legend  # only outcomes that occur
    assert "&lt;b&gt;ads&lt;/b&gt;" in html and "<b>ads</b>" not in html and "beta-secret" not in html
    assert ">Completed<" in html and ">Rejected<" in html and ">rejected<" not in html  # statuses as labels
    hours = html.split('data-testid="chart-hours-table"', 1)[1].split("</table>", 1)[0]
    assert hours.count("<tr>") == 25  # the header and 24 hours
    assert "<script" not in html.split("<main", 1)[-1].split("</main>", 1)[0]


def test_speed_per_manager_and_per_site_and_the_empty_state(app, shops):
    alpha = shops["alpha"]
    empty = alpha["client"].get("/cabinet/stats?period=yesterday").get_data(as_text=True)
    assert 'data-testid="stats-empty"' in empty and 'data-testid="chart-days"' not in empty
    add(app, alpha["account"], alpha["sites"][1], utcnow(), status="completed", outcome="success")
    html = alpha["client"].get("/cabinet/stats").get_data(as_text=True)
    assert 'data-testid="stats-empty"' not in html and 'data-testid="chart-days"' in html
    assert 'href="/cabinet/calls?from=' in html  # the call log of the same days


def test_the_rent_ended_page_says_how_to_pay(app, shops):
    alpha = shops["alpha"]
    with app.app_context():
        db.session.get(Account, alpha["account"]).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
    for url in ("/cabinet/stats", "/cabinet/calls", "/cabinet/calls.csv", "/cabinet/calls.xlsx"):
        page = alpha["client"].get(url)
        html = page.get_data(as_text=True)
        assert page.status_code == 403 and "The rent has ended" in html, url
        assert 'href="/cabinet/billing" data-testid="rent-ended-billing"' in html, url
        assert 'href="/cabinet/billing/topup" data-testid="rent-ended-topup"' in html, url
        assert "forwards visitors' requests to you by e-mail" in html.replace("&#39;", "'"), url
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "billing.view"])
    html = alpha["client"].get("/cabinet/stats").get_data(as_text=True)
    assert "rent-ended-billing" not in html and 'data-testid="rent-ended-ask"' in html


def test_the_period_fields_read_as_dates_in_russian(app, shops):
    alpha = shops["alpha"]
    with app.app_context():
        db.session.get(Account, alpha["account"]).locale = "ru"
        db.session.commit()
    for url in ("/cabinet/stats", "/cabinet/calls", "/cabinet/billing/statement"):
        page = alpha["client"].get(url).get_data(as_text=True)
        assert 'for="from">С</label>' in page and 'for="to">По</label>' in page and "Кому" not in page, url
