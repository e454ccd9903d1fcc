"""The built widget (app/static/widget.js) in headless Chromium against a fake API (fake_api.py).

The fake answers exactly as a test wants (statuses, errors, odd configurations), so the widget's behaviour is
pinned down here; tests/browser/test_widget_live.py drives it against the real API from another origin.
"""
from __future__ import annotations

import pytest
from fake_api import BASE_CONFIG, FakeApi, serve

# Records what the widget tells the page: DOM events, dataLayer, Metrica goals, and any uncaught error.
RECORDER = """
window.__events = [];
['shown', 'submitted', 'connected', 'closed'].forEach((name) => document.addEventListener('callback:' + name,
    (e) => window.__events.push([name, e.detail])));
window.dataLayer = []; window.__goals = []; window.ym = (...args) => window.__goals.push(args);
window.__errors = []; window.addEventListener('error', (e) => window.__errors.push(e.message));
window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
"""
# Lets a test hide and show the page (document.hidden and visibilitychange).
VISIBILITY = """
window.__hidden = false;
Object.defineProperty(Document.prototype, 'hidden', {get() { return window.__hidden }, configurable: true});
window.__setHidden = (h) => { window.__hidden = h; document.dispatchEvent(new Event('visibilitychange')) };
"""
READY = "window.CallBack && CallBack.state().signals"
ROOT = "document.querySelector('callback-widget').shadowRoot"


@pytest.fixture(scope="module")
def api():
    return FakeApi()


@pytest.fixture(scope="module")
def base_url(api):
    server = serve(api)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fresh_api(api):
    api.reset()


@pytest.fixture
def open_page(browser, base_url):
    """open_page(path, touch=False): a new browser context (fresh session) on `path`, widget started."""
    contexts = []

    def open_page(path, touch=False, ready=True):
        options = ({"has_touch": True, "is_mobile": True, "viewport": {"width": 390, "height": 700}} if touch
                   else {"viewport": {"width": 1200, "height": 800}})
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(RECORDER + VISIBILITY)
        page.goto(base_url + path)
        if ready:
            page.wait_for_function(READY)
        return page

    yield open_page
    for context in contexts:
        context.close()


def leave_through_top(page):
    page.evaluate("document.dispatchEvent(new MouseEvent('mouseout', {clientY: 0, bubbles: true}))")


def widget(page):
    return page.locator("callback-widget")


def dialog(page):
    return widget(page).locator("dialog")


def fill_and_send(page, digits="9123456789"):
    widget(page).locator("input[type=tel]").press_sequentially(digits)
    widget(page).locator("input[type=checkbox]").check()
    widget(page).locator("button.go").click()


def test_exit_intent_request_status_and_events(open_page, api):
    page = open_page("/page?utm_source=Yandex&utm_medium=cpc&utm_term=Ремонт%20Квартир&yclid=123")
    leave_through_top(page)
    page.wait_for_timeout(400)
    assert not dialog(page).is_visible(), "armed only after 1 s of visible time"
    page.wait_for_timeout(1200)
    leave_through_top(page)
    page.evaluate("document.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))")
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible(), "coming back within 150 ms cancels"
    leave_through_top(page)
    dialog(page).wait_for(state="visible")

    state = page.evaluate("CallBack.state()")
    assert (state["scenario"], state["variant"]) == ("exit_intent", "scenario")
    signals = state["signals"]
    assert (signals["source"], signals["keyword"], signals["device"], signals["exit"]) == (
        "ad", "ремонт квартир", "desktop", True)
    assert page.evaluate(f"{ROOT}.querySelector('dialog').matches(':modal')")
    assert page.evaluate(f"{ROOT}.activeElement.type") == "tel"
    assert dialog(page).get_attribute("aria-labelledby") == "cb-t"
    assert widget(page).locator("#cb-t").inner_text() == "Уже уходите?"
    assert page.evaluate(f"getComputedStyle({ROOT}.querySelector('h2')).color") == "rgb(29, 36, 51)", \
        "the page's `* {color: green !important}` must not reach the popup"
    for _ in range(12):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.localName") == "callback-widget", "Tab stays in the dialog"

    tel = widget(page).locator("input[type=tel]")
    tel.click()
    tel.press_sequentially("+7 (912) 3456789")
    assert tel.input_value() == "912 345-67-89"
    widget(page).locator("button.go").click()
    assert widget(page).locator("[role=alert]").inner_text() == "Нужно согласие"
    widget(page).locator("input[type=checkbox]").check()
    widget(page).locator("button.go").click()
    widget(page).locator(".big").wait_for()

    headers, body = api.callbacks[0]
    assert headers["Content-Type"] == "application/json" and "Cookie" not in headers
    assert {key: body[key] for key in ("phone", "country", "consent", "consent_version", "department_id",
                                       "scheduled_for")} == {
        "phone": "+79123456789", "country": "RU", "consent": True, "consent_version": "a1b2c3d4e5f6",
        "department_id": None, "scheduled_for": None}
    visitor = body["visitor"]
    assert (visitor["source"], visitor["click_id"], visitor["keyword"], visitor["utm"]["utm_source"]) == (
        "ad", "yclid:123", "ремонт квартир", "Yandex")
    assert (visitor["scenario"], visitor["variant"], visitor["pages"], visitor["device"]) == (
        "exit_intent", "scenario", 1, "desktop")
    assert len(visitor["session_id"]) == 36 and visitor["landing_url"] == visitor["page_url"]
    assert widget(page).locator(".big").inner_text().startswith("Перезвоним через")

    page.wait_for_function("window.__events.some((e) => e[0] == 'connected')", timeout=15_000)
    page.wait_for_function(f"{ROOT}.querySelector('[aria-live]').textContent.includes('Спасибо!')")
    reads = len(api.status_reads)
    page.wait_for_timeout(2500)
    assert len(api.status_reads) == reads, "polling stops at a final status"
    assert api.status_reads[0]["token"] == ["tok"]

    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible()
    events = page.evaluate("window.__events")
    assert [name for name, _ in events] == ["shown", "submitted", "connected", "closed"]
    assert events[1][1] == {"site": "KEY", "scenario": "exit_intent", "variant": "scenario", "id": 17}
    assert [item["event"] for item in page.evaluate("dataLayer")] == [
        "callback_shown", "callback_submitted", "callback_connected"]
    assert page.evaluate("__goals")[0] == [12345, "reachGoal", "callback_shown"]
    assert [event["type"] for _, beacon in api.events for event in beacon["events"]] == [
        "shown", "submitted", "closed"]
    assert all(content_type.startswith("text/plain") for content_type, _ in api.events)
    assert page.evaluate("[localStorage.length, document.cookie, Object.keys(sessionStorage)]") == [
        0, "", ["callback-widget"]]

    page.goto(page.url.split("?")[0])  # the next page of the session
    page.wait_for_function(READY)
    page.wait_for_timeout(1500)
    leave_through_top(page)
    page.wait_for_timeout(500)
    assert not dialog(page).is_visible(), "at most once per session"
    signals = page.evaluate("CallBack.state().signals")
    assert (signals["pages"], signals["source"]) == (2, "ad")
    assert page.evaluate("window.__errors") == []


def test_text_stays_text_and_variants_offices_countries_errors(open_page, api):
    config = api.config
    config["texts"]["title"] = '<img src=x onerror="window.__x=1"><script>window.__x=2</script>'
    config["operator"]["url"] = "javascript:window.__x=3"
    config["consent"]["policy_url"] = "javascript:window.__x=4"
    config["offices"] = [{"id": 3, "name": "Москва"}, {"id": 4, "name": "<b>СПб</b>"}]
    config["countries"]["allowed"] += [{"code": "KZ", "name": "Казахстан", "dial": "7", "template": "### ### ####"},
                                       {"code": "BY", "name": "Беларусь", "dial": "375", "template": "## ###-##-##"}]
    config["rules"] = [{"id": "rule-1", "keywords": ["ремонт"], "utm": {"utm_source": "yandex"}, "scenario": None,
                        "texts": {"button": "Кнопка правила"},
                        "design": {"accent_color": "#ffff00", "position": "bottom-left"}}]
    api.created = (422, {"error": {"code": "invalid_phone", "message": "bad"}})
    page = open_page("/page?utm_source=YANDEX&utm_term=ремонт")
    page.evaluate("CallBack.open()")
    dialog(page).wait_for(state="visible")
    w = widget(page)
    assert page.evaluate("CallBack.state().variant") == "rule-1"
    assert w.locator("#cb-t").inner_text().startswith("<img")
    assert w.locator("button.go").inner_text() == "Кнопка правила"
    assert page.evaluate(f"getComputedStyle({ROOT}.querySelector('button.go')).color") == "rgb(0, 0, 0)", \
        "dark text on a light accent"
    assert w.locator("dialog").get_attribute("class") == "p-bottom-left"
    assert w.locator("a:has-text('МТТ')").get_attribute("href") is None
    assert w.locator("a:has-text('Политика')").count() == 0
    assert w.locator("#cb-o option").all_inner_texts() == ["Любой офис", "Москва", "<b>СПб</b>"]
    country = w.locator("select[aria-label='Страна']")
    assert country.input_value() == "RU"
    country.select_option("BY")
    tel = w.locator("input[type=tel]")
    tel.press_sequentially("291234567")
    assert tel.input_value() == "29 123-45-67"
    w.locator("#cb-o").select_option("4")
    w.locator("input[type=checkbox]").check()
    w.locator("button.go").click()
    w.locator("[role=alert]:has-text('Проверьте номер')").wait_for()
    body = api.callbacks[0][1]
    assert (body["phone"], body["country"], body["department_id"]) == ("+375291234567", "BY", 4)
    assert w.locator("button.go").is_enabled() and w.locator("form").is_visible(), "the form stays usable"
    api.created = (429, {"error": {"code": "limit_ip", "message": "Слишком много"}})
    w.locator("button.go").click()
    w.locator("[role=alert]:has-text('Слишком много')").wait_for()
    assert page.evaluate("window.__x || null") is None
    page.evaluate("CallBack.close()")
    page.wait_for_timeout(200)
    assert not dialog(page).is_visible()
    assert page.evaluate("window.__errors") == []


def test_scheduled_mode_uses_the_sites_time_zone(open_page, api):
    api.config["mode"] = "scheduled"
    api.config["schedule"] = {"is_open": False, "timezone": "Asia/Vladivostok",
                              "slots": ["2026-11-28T09:00:00+03:00", "2026-11-28T09:30:00+03:00"]}
    api.created = (201, {"id": 17, "status_token": "tok", "mode": "scheduled", "eta_seconds": 0,
                         "scheduled_for": "2026-11-28T09:30:00+03:00"})
    page = open_page("/page")
    page.evaluate("CallBack.open('exit_intent')")
    w = widget(page)
    assert "16:00" in w.locator("#cb-s option").all_inner_texts()[0]
    w.locator("#cb-s").select_option(index=1)
    fill_and_send(page)
    w.locator(".big").wait_for()
    text = w.locator(".big").inner_text()
    assert text.startswith("Позвоним") and "16:30" in text
    assert api.callbacks[0][1]["scheduled_for"] == "2026-11-28T09:30:00+03:00"


def test_hot_visitor_scenario(open_page, api):
    api.config["scenarios"].insert(0, {
        "id": "hot_visitor", "devices": ["desktop"], "texts": {}, "design": {},
        "when": [[["keyword", "contains_any", ["ремонт"]], ["active_s", "gte", 2]], [["clicks_60s", "gte", 100]]]})
    page = open_page("/page?utm_term=Ремонт+ванной")
    page.mouse.move(10, 10)
    page.wait_for_timeout(1200)
    assert not dialog(page).is_visible()
    page.mouse.move(20, 20)
    dialog(page).wait_for(state="visible", timeout=4000)
    assert page.evaluate("CallBack.state()")["scenario"] == "hot_visitor"
    assert page.evaluate("CallBack.state()")["variant"] == "default"


def test_silent_without_configuration(open_page, api):
    api.config_status = 403
    page = open_page("/page", ready=False)
    page.wait_for_timeout(500)
    assert page.evaluate("CallBack.state()") == {"scenario": None, "variant": None, "signals": None}
    page.evaluate("CallBack.open()")
    page.wait_for_timeout(300)
    assert widget(page).count() == 0
    assert page.evaluate("[sessionStorage.length, window.__errors]") == [0, []]


def test_touch_fast_scroll_up_and_back_closes(open_page):
    page = open_page("/page?h=6000", touch=True)
    assert page.evaluate("CallBack.state().signals.device") == "touch"
    page.evaluate("scrollTo(0, 3500)")
    page.wait_for_timeout(1300)
    for y in range(3500, 2500, -50):  # reading back up, far from the top: not an exit
        page.evaluate(f"scrollTo(0, {y})")
        page.wait_for_timeout(60)
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible()
    page.evaluate("scrollTo(0, 3500)")
    page.wait_for_timeout(500)
    for y in (3000, 2000, 1000, 600):
        page.evaluate(f"scrollTo(0, {y})")
        page.wait_for_timeout(40)
    dialog(page).wait_for(state="visible", timeout=2000)
    box = dialog(page).bounding_box()
    assert box["width"] == 390 and abs(box["y"] + box["height"] - 700) < 2, "a bottom sheet"

    entries = page.evaluate("history.length")
    widget(page).locator("h2").click()
    assert page.evaluate("history.length") == entries + 1, "one entry, after a tap in the popup"
    page.go_back()
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible() and page.url.endswith("h=6000")
    assert [name for name, _ in page.evaluate("window.__events")] == ["shown", "closed"]


def test_touch_jump_to_top(open_page):
    page = open_page("/page?h=6000", touch=True)
    page.evaluate("scrollTo(0, 3500)")
    page.wait_for_timeout(1500)
    page.evaluate("scrollTo(0, 0)")
    dialog(page).wait_for(state="visible", timeout=2000)


def test_touch_close_button_takes_back_its_history_entry(open_page):
    page = open_page("/page", touch=True)
    page.evaluate("CallBack.open()")
    entries = page.evaluate("history.length")
    widget(page).locator("h2").click()
    assert page.evaluate("history.length") == entries + 1
    widget(page).locator("button.x").click()
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible()
    assert page.evaluate("history.state") is None and page.url.endswith("/page")


def test_touch_tab_return_and_idle(open_page, api):
    page = open_page("/page", touch=True)
    page.wait_for_timeout(1200)
    page.evaluate("__setHidden(true)")
    page.wait_for_timeout(400)
    page.evaluate("__setHidden(false)")
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible(), "hidden for less than hidden_s"
    page.evaluate("__setHidden(true)")
    page.wait_for_timeout(1200)
    page.evaluate("__setHidden(false)")
    dialog(page).wait_for(state="visible", timeout=1000)

    api.config["exit"]["touch"].update(is_tab_return=False, idle_s=3)
    page = open_page("/page", touch=True)
    page.evaluate("__setHidden(true)")
    page.wait_for_timeout(1200)
    page.evaluate("__setHidden(false)")
    page.wait_for_timeout(300)
    assert not dialog(page).is_visible(), "tab return switched off"
    dialog(page).wait_for(state="visible", timeout=4000)
    assert page.evaluate("CallBack.state().signals.time_s") >= 3


def test_desktop_ignores_selects_low_exits_scrolls_and_returns_focus(open_page, api):
    api.config["exit"]["desktop"]["armed_after_s"] = 0
    page = open_page("/page?h=5000")
    page.wait_for_timeout(1100)
    page.evaluate("""document.body.append(Object.assign(document.createElement('select'), {id: 's'}));
        document.getElementById('s').dispatchEvent(new MouseEvent('mouseout', {clientY: 0, bubbles: true}))""")
    page.evaluate("document.dispatchEvent(new MouseEvent('mouseout', {clientY: 50, bubbles: true}))")
    page.evaluate("scrollTo(0, 100)")
    page.wait_for_timeout(50)
    leave_through_top(page)
    page.wait_for_timeout(800)
    assert not dialog(page).is_visible()
    page.locator("#own").focus()
    page.keyboard.type("abc")
    page.wait_for_timeout(600)  # focusing may have scrolled the page
    leave_through_top(page)
    dialog(page).wait_for(state="visible")
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    assert page.evaluate("document.activeElement.id") == "own", "focus returns where it was"


def test_preview(open_page, api):
    page = open_page("/page?attrs=data-preview", ready=False)
    page.wait_for_function("window.CallBack")
    page.wait_for_timeout(300)
    assert not any(path.startswith("/api/") for path in api.paths), "a preview page fetches nothing"
    config = {**BASE_CONFIG, "design": {**BASE_CONFIG["design"], "background_color": "#000000"}}
    page.evaluate("""(config) => {
        const box = document.createElement('div'); box.id = 'preview'; document.body.prepend(box);
        CallBack.preview(config, box); CallBack.preview(config, box) }""", config)
    host = page.locator("#preview callback-widget")
    assert host.count() == 1, "re-rendered in place"
    assert host.locator("dialog[open]").is_visible()
    assert not page.evaluate("document.querySelector('#preview callback-widget').shadowRoot"
                             ".querySelector('dialog').matches(':modal')")
    assert page.evaluate("document.activeElement === document.body"), "the preview takes no focus"
    fill_and_send(page)
    page.wait_for_timeout(300)
    assert api.callbacks == []
    assert page.evaluate("CallBack.preview(null, null)") is None
    assert page.evaluate("window.__errors") == []
