"""The dashboard links each cabinet page the user may open, and only those (issue 9 parts 2–3)."""
from __future__ import annotations

from helpers import set_global_setting

from app.extensions import db
from app.services import permissions
from app.services.permissions import CLIENT_DEFAULTS

LINKS = {"stats-link": "/cabinet/stats", "calls-link": "/cabinet/calls", "billing-link": "/cabinet/billing",
         "personal-link": "/cabinet/personal", "notifications-link": "/cabinet/notifications",
         "lines-link": "/cabinet/lines", "blacklist-link": "/cabinet/blacklist"}


def links(client) -> dict[str, int]:
    """{testid: the status its page answers} for every cabinet link the dashboard shows."""
    html = client.get("/cabinet/").get_data(as_text=True)
    return {testid: client.get(url).status_code for testid, url in LINKS.items() if f'data-testid="{testid}"' in html}


def test_a_client_sees_the_default_pages_and_each_opens(shops):
    client, _, _ = shops["alpha"]
    assert links(client) == {"stats-link": 200, "calls-link": 200, "billing-link": 200, "personal-link": 200,
                             "notifications-link": 200}


def test_opened_settings_are_linked_for_that_account_only(app, shops):
    alpha, alpha_account, _ = shops["alpha"]
    with app.app_context():
        for key in ("widget.lines.edit", "widget.blacklist.edit"):
            permissions.set_account_permission(alpha_account, key, True)
        db.session.commit()
    assert {"lines-link": 200, "blacklist-link": 200}.items() <= links(alpha).items()
    assert "lines-link" not in links(shops["beta"][0]) and "blacklist-link" not in links(shops["beta"][0])


def test_without_stats_view_the_statistics_and_call_log_are_not_linked(app, shops):
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "stats.view"])
    client, _, _ = shops["alpha"]
    html = client.get("/cabinet/").get_data(as_text=True)
    assert "/cabinet/stats" not in html and "/cabinet/calls" not in html
    assert client.get("/cabinet/stats").status_code == 403


def test_each_site_links_its_install_page_with_the_snippet(app, shops):
    client, _, site_id = shops["alpha"]
    html = client.get("/cabinet/").get_data(as_text=True)
    assert f'href="/cabinet/sites/{site_id}/install"' in html and "data-site=" not in html
    assert 'data-testid="install-snippet"' in client.get(f"/cabinet/sites/{site_id}/install").get_data(as_text=True)
