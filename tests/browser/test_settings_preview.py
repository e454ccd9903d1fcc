"""The live preview of the cabinet's settings page in a real Chromium: what the client types shows in the widget
drawn by /widget.js (in its shadow root) before anything is saved.

The panel's own messages are checked through its `data-state` and `data-msg-*` attributes, so the test does
not depend on their translation.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDGET_BUNDLE = Path(__file__).resolve().parents[2] / "app" / "static" / "widget.js"
TITLE = "#settings-preview callback-widget #cb-t"  # Playwright's CSS locators pierce open shadow roots


@pytest.fixture
def settings_page(page, app, make_client_user):
    """A client whose manager opened the widget's texts, logged in, and the URL of their site's settings."""
    from app.extensions import db
    from app.models import Account
    from app.services import permissions, site_settings, sites

    _, account_id, email, password = make_client_user()
    with app.app_context():
        site = sites.create_site(db.session.get(Account, account_id), "Acme shop", ["https://shop.acme.example"])
        permissions.set_account_permission(account_id, site_settings.WIDGET_TEXTS, True)
        db.session.commit()
        url = f"/cabinet/sites/{site.id}/settings"
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(r"/cabinet/$"))
    return url


def test_a_typed_title_shows_in_the_preview_before_saving(page, app, settings_page):
    from app.extensions import db
    from app.models import SettingsDocument
    from app.services.site_settings import SiteSettings

    if not WIDGET_BUNDLE.exists():
        pytest.fail(f"{WIDGET_BUNDLE} is missing: build it with `make widget`")
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on("console", lambda message: script_errors.append(message.text)
            if message.type == "error" and "status of 422" not in message.text else None)  # 422: invalid, expected
    page.goto(settings_page)
    panel = page.locator("#settings-preview")
    title = page.locator(TITLE)
    expect(title).to_have_text(SiteSettings().texts.title)
    expect(panel).to_have_attribute("data-state", "ready")

    page.locator("#texts-title").fill("Перезвоним за 20 секунд")
    expect(title).to_have_text("Перезвоним за 20 секунд")
    shadow_title = page.evaluate(
        "document.querySelector('#settings-preview callback-widget').shadowRoot.querySelector('#cb-t').textContent")
    assert shadow_title == "Перезвоним за 20 секунд"

    page.locator("#texts-title").fill("")  # a title is required: the panel asks to fix the form
    expect(panel).to_have_attribute("data-state", "invalid")
    expect(panel.locator("[data-preview-status]")).to_have_text(panel.get_attribute("data-msg-invalid"))
    expect(title).to_have_count(0)

    page.locator("#texts-title").fill("Снова здесь")
    expect(title).to_have_text("Снова здесь")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SettingsDocument)) == 0, "nothing saved"
    assert script_errors == []


def test_without_the_widget_the_panel_says_the_preview_is_unavailable(page, settings_page):
    page.route("**/widget.js", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.goto(settings_page)
    panel = page.locator("#settings-preview")
    expect(panel).to_have_attribute("data-state", "unavailable")
    expect(panel.locator("[data-preview-status]")).to_have_text(panel.get_attribute("data-msg-unavailable"))
