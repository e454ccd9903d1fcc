"""Stored XSS through the widget's texts is inert in Chromium (issue 10, item 2).

Every text field of the site's settings (the general texts, each scenario's and a keyword rule's texts, the
consent text), the privacy-policy link and an office's name are set to XSS payloads; the built widget runs on a
host page of another origin (the live-widget tests' host, site and visitor fixtures). No dialog may open (an
`alert` would), no element the payloads carry may exist in the widget or the page, and the texts show literally.
"""
from __future__ import annotations

import pytest
import test_widget_live as live

from app.extensions import db
from app.models import Department
from app.services import site_settings

pytestmark = pytest.mark.browser

IMG, SCRIPT = "<img src=x onerror=alert(1)>", "\"><script>alert(2)</script>"
LINK = "<a href=\"javascript:alert(3)\">policy</a>"
INJECTED = "script, img, iframe, object, embed, svg, [onerror], [onload], a[href^='javascript:' i]"

host, shop, visitor = live.host, live.shop, live.visitor


def text_payloads(model) -> dict[str, str]:
    """Each text field of a settings texts model (title, body, button...), set to the payloads that fit it."""
    values = {}
    for name, field in model.model_fields.items():
        limit = next((rule.max_length for rule in field.metadata if getattr(rule, "max_length", None)), 10_000)
        text = f"{IMG}{SCRIPT}{LINK}"
        values[name] = text if len(text) <= limit else IMG
    return values


TEXTS = text_payloads(site_settings.Texts)
RULE_TEXTS = {name: value.replace("alert(", "alert(9")
              for name, value in text_payloads(site_settings.TextsOverride).items()}
CONSENT = f"Я согласен на обработку номера. {IMG}{SCRIPT}{LINK}"
POLICY_URL = "https://policy.example/\"><img/src=x/onerror=alert(4)>"  # the link's pattern takes no spaces
OFFICE = f"Казань {IMG}"


@pytest.fixture
def poisoned(app, shop):
    with app.app_context():
        office = Department(account_id=shop["account_id"], name=OFFICE)
        db.session.add(office)
        db.session.flush()
        scenario_texts = {"texts": TEXTS}
        site_settings.save(shop["account_id"], shop["site_id"], {
            "texts": TEXTS, "consent_text": CONSENT, "privacy_policy_url": POLICY_URL,
            "is_office_choice_offered": True, "offered_department_ids": [office.id],
            "scenarios": {name: scenario_texts for name in site_settings.SCENARIO_IDS},
            "keyword_rules": [{"keywords": ["ванн"], "texts": RULE_TEXTS}]})
        db.session.commit()


def _open(visitor, url: str):
    page = visitor(url)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.evaluate("CallBack.open()")
    live.popup(page).wait_for(state="visible")
    return page, dialogs


def _assert_inert(page, dialogs) -> None:
    page.wait_for_timeout(300)  # an onerror handler runs once the broken image has failed to load
    assert not dialogs, f"a payload ran: dialogs {dialogs}"
    injected = page.evaluate(f"[...{live.ROOT}.querySelectorAll(\"{INJECTED}\")].map((e) => e.outerHTML)")
    assert injected == [], f"the widget holds injected elements: {injected}"
    in_page = page.evaluate("[...document.querySelectorAll('img[src=x], body script:not([src])')].length")
    assert in_page == 0, "the host page holds injected elements"
    assert page.evaluate("window.__errors") == [], "a script error on the host page"


def test_every_widget_text_shows_literally_and_runs_nothing(app, poisoned, host, visitor):
    page, dialogs = _open(visitor, host.url("/"))
    _assert_inert(page, dialogs)
    widget = page.locator("callback-widget")
    assert widget.locator("#cb-t").inner_text() == TEXTS["title"]
    assert widget.locator("dialog p").first.inner_text() == TEXTS["body"]
    assert widget.locator("button.go").inner_text() == TEXTS["button"]
    assert widget.locator(".ct").inner_text() == CONSENT
    assert OFFICE in widget.locator("#cb-o").inner_text()
    assert widget.locator("a[href^='https://policy.example/']").get_attribute("href") == POLICY_URL


def test_a_keyword_rules_texts_show_literally_and_run_nothing(app, poisoned, host, visitor):
    page, dialogs = _open(visitor, host.url("/?utm_source=yandex&utm_term=ремонт+ванной"))
    _assert_inert(page, dialogs)
    assert page.locator("callback-widget #cb-t").inner_text() == RULE_TEXTS["title"]
    assert page.locator("callback-widget button.go").inner_text() == RULE_TEXTS["button"]
