"""The built widget against the real API, on a host page served from another origin (W1–W16, A3, X1).

The app runs on http://127.0.0.1:<port> (the live server); the host page is http://localhost:<other port>,
as a client's website would be. The site lists `localhost` among its domains.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from servers import free_port

from app.extensions import db
from app.models import BlacklistEntry, CallbackRequest, ConsentRecord, Department
from app.services import accounts, settings, site_settings, sites

ROOT = "document.querySelector('callback-widget').shadowRoot"
READY = "window.CallBack && CallBack.state().signals"
ARTICLE = "".join(f"<h2>Раздел {n}</h2><p>{'Текст статьи о ремонте квартир. ' * 40}</p>" for n in range(30))


class HostPages(ThreadingHTTPServer):
    """The client's website: pages by path, each carrying the install snippet."""

    def __init__(self, api_base: str):
        super().__init__(("127.0.0.1", free_port()), _HostHandler)
        self.api_base, self.site_key, self.head = api_base, "", ""

    def url(self, path: str = "/") -> str:
        return f"http://localhost:{self.server_address[1]}{path}"

    def page(self) -> bytes:
        snippet = f'<script async src="{self.api_base}/widget.js" data-site="{self.site_key}"></script>'
        return (f"<!doctype html><html lang='ru'><head><meta charset='utf-8'><title>Магазин</title>{self.head}"
                f"</head><body><h1>Ремонт квартир</h1><input id='own'>{ARTICLE}{snippet}</body></html>").encode()


class _HostHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = self.server.page()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def host(live_server):
    server = HostPages(live_server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def shop(app, host):
    """A client's site on `localhost`, watching for exit after 1 s (the default waits 5 s)."""
    with app.app_context():
        user = accounts.signup("owner@shop.example.com", "correct-horse-9", "Shop LLC")
        site = sites.create_site(user.account, "Shop", ["localhost"])
        site_settings.save(site.account_id, site.id, {
            "schedule": {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
                         for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "scenarios": {"exit_intent": {"armed_after_s": 1, "touch_armed_after_s": 1}}})
        settings.set_setting("min_submit_ms", 0)  # a robot types faster than a person; the guard's own test below
        db.session.commit()
        host.site_key = site.public_key
        return {"site_id": site.id, "account_id": site.account_id}


def configure(app, shop, values: dict) -> None:
    with app.app_context():
        site_settings.save(shop["account_id"], shop["site_id"], values)
        db.session.commit()


def stored(app) -> list[CallbackRequest]:
    with app.app_context():
        return list(db.session.scalars(sa.select(CallbackRequest).order_by(CallbackRequest.id)))


@pytest.fixture
def visitor(browser):
    """visitor(url, touch=False): a new visitor (own browser context) on `url`, the widget started."""
    contexts = []

    def open_page(url: str, touch: bool = False):
        options = ({"has_touch": True, "is_mobile": True, "viewport": {"width": 390, "height": 700}} if touch
                   else {"viewport": {"width": 1200, "height": 800}})
        context = browser.new_context(locale="ru-RU", **options)
        context.set_default_timeout(5_000)
        contexts.append(context)
        page = context.new_page()
        page.add_init_script("window.__errors = []; addEventListener('error', (e) => __errors.push(e.message))")
        page.goto(url)
        page.wait_for_function(READY)
        return page

    yield open_page
    for context in contexts:
        context.close()


def popup(page):
    return page.locator("callback-widget dialog")


def read_for(page, seconds: int) -> None:
    """Wait until the widget has counted `seconds` of visible, active time (what arms exit intent)."""
    page.wait_for_function(f"CallBack.state().signals.active_s >= {seconds}")


def leave_through_top(page) -> None:
    """The real pointer leaves the window through its top edge."""
    page.mouse.move(600, 300)
    page.mouse.move(600, 10, steps=4)
    page.mouse.move(600, -10)


def send(page, digits: str = "9123456789", consent: bool = True) -> None:
    widget = page.locator("callback-widget")
    widget.locator("input[type=tel]").press_sequentially(digits)
    if consent:
        widget.locator("input[type=checkbox]").check()
    widget.locator("button.go").click()


def alert(page):
    return page.locator("callback-widget [role=alert]")


def test_exit_intent_opens_once_per_session_and_the_request_is_stored(app, shop, host, visitor):
    page = visitor(host.url("/catalog?utm_source=yandex&utm_medium=cpc&utm_term=Ремонт+квартир&yclid=77"))
    read_for(page, 1)
    leave_through_top(page)
    popup(page).wait_for(state="visible")
    assert page.evaluate("CallBack.state().scenario") == "exit_intent"
    send(page)
    page.locator("callback-widget .big").wait_for()

    [row] = stored(app)
    assert (row.phone, row.status, row.mode, row.ip) == ("+79123456789", "received", "instant", "127.0.0.1")
    assert (row.source, row.keyword) == ("ad", "ремонт квартир")
    assert row.page_url == page.url  # as the browser writes it, percent-encoded
    assert row.visitor["utm"]["utm_source"] == "yandex" and row.visitor["click_id"] == "yclid:77"
    assert "Chrome" in row.user_agent
    with app.app_context():
        consent = db.session.scalar(sa.select(ConsentRecord).where(ConsentRecord.request_id == row.id))
        assert (consent.ip, consent.site_id) == ("127.0.0.1", shop["site_id"])
        assert "152-ФЗ" in consent.text.body

    page.keyboard.press("Escape")
    page.goto(host.url("/delivery"))  # the next page of the same session
    page.wait_for_function(READY)
    read_for(page, 1)
    leave_through_top(page)
    page.wait_for_timeout(600)
    assert not popup(page).is_visible(), "at most once per session"
    assert page.evaluate("CallBack.state().signals.pages") == 2
    assert page.evaluate("__errors") == []


def test_exit_intent_waits_for_reading_time(app, shop, host, visitor):
    configure(app, shop, {"scenarios": {"exit_intent": {"armed_after_s": 4}}})
    page = visitor(host.url("/"))
    leave_through_top(page)
    page.wait_for_timeout(600)
    assert not popup(page).is_visible(), "not armed before 4 s of visible time"


def test_hot_keyword_opens_with_the_keywords_text(app, shop, host, visitor):
    configure(app, shop, {
        "scenarios": {"hot_visitor": {"is_enabled": True, "keywords": ["ремонт"], "is_ad_click_hot": False,
                                      "after_active_s": 1, "texts": {"title": "Горячий заголовок"}}},
        "keyword_rules": [{"keywords": ["ванн"], "texts": {"title": "Ремонт ванной под ключ"},
                           "design": {"accent_color": "#00aa00"}}]})
    page = visitor(host.url("/?utm_source=yandex&utm_term=ремонт+ванной"))
    popup(page).wait_for(state="visible", timeout=6_000)  # by itself: no exit needed
    assert page.evaluate("CallBack.state()")["scenario"] == "hot_visitor"
    assert page.evaluate("CallBack.state()")["variant"] == "rule-1"
    assert page.locator("callback-widget #cb-t").inner_text() == "Ремонт ванной под ключ"

    other = visitor(host.url("/?utm_source=yandex&utm_term=ремонт+кухни"))
    popup(other).wait_for(state="visible", timeout=6_000)
    assert other.locator("callback-widget #cb-t").inner_text() == "Горячий заголовок", "the scenario's text"

    cold = visitor(host.url("/?utm_source=yandex&utm_term=доставка"))
    cold.wait_for_timeout(2_500)
    assert not popup(cold).is_visible(), "a keyword not listed is not hot"


def test_a_direct_visit_is_hot_when_configured(app, shop, host, visitor):
    configure(app, shop, {"scenarios": {"hot_visitor": {"is_enabled": True, "is_direct_visit_hot": True,
                                                        "is_ad_click_hot": False, "after_active_s": 1}}})
    page = visitor(host.url("/"))
    popup(page).wait_for(state="visible", timeout=6_000)
    assert page.evaluate("CallBack.state().signals.source") == "direct"
    assert page.evaluate("CallBack.state().scenario") == "hot_visitor"


def test_a_long_reader_is_offered_a_call_on_the_second_page(app, shop, host, visitor):
    configure(app, shop, {"scenarios": {
        "long_reader": {"is_enabled": True, "min_active_s": 1, "min_scroll_pct": 50, "min_pages": 2,
                        "texts": {"title": "Долго ищете? Подскажем"}},
        "exit_intent": {"is_enabled": False}}})
    page = visitor(host.url("/guide"))
    page.mouse.wheel(0, 30_000)
    page.wait_for_timeout(2_500)
    assert not popup(page).is_visible(), "one page is not enough"
    page.goto(host.url("/guide/2"))
    page.wait_for_function(READY)
    page.wait_for_timeout(1_500)
    assert not popup(page).is_visible(), "not before reading half the page"
    page.mouse.move(300, 300)
    page.mouse.wheel(0, 30_000)
    popup(page).wait_for(state="visible", timeout=4_000)
    assert page.locator("callback-widget #cb-t").inner_text() == "Долго ищете? Подскажем"


def test_office_choice_and_consent(app, shop, host, visitor):
    with app.app_context():
        office = Department(account_id=shop["account_id"], name="Казань")
        db.session.add(office)
        db.session.commit()
        office_id = office.id
    configure(app, shop, {"is_office_choice_offered": True, "offered_department_ids": [office_id]})
    page = visitor(host.url("/"))
    page.evaluate("CallBack.open()")
    widget = page.locator("callback-widget")
    widget.locator("#cb-o").select_option(label="Казань")
    send(page, consent=False)
    alert(page).wait_for()
    assert stored(app) == [], "nothing is sent without consent"
    widget.locator("input[type=checkbox]").check()
    widget.locator("button.go").click()
    widget.locator(".big").wait_for()
    [row] = stored(app)
    assert row.department_id == office_id


def test_blacklist_and_limits_are_explained_to_the_visitor(app, shop, host, visitor):
    with app.app_context():
        db.session.add(BlacklistEntry(account_id=shop["account_id"], kind="number", value="+79990000000"))
        settings.set_setting("limit_number_per_10min", 1)
        db.session.commit()
    page = visitor(host.url("/"))
    page.evaluate("CallBack.open()")
    send(page, "9990000000")
    alert(page).wait_for()
    assert alert(page).inner_text() == "Мы не можем позвонить на этот номер."

    first = visitor(host.url("/"))
    first.evaluate("CallBack.open()")
    send(first, "9161112233")
    first.locator("callback-widget .big").wait_for()
    second = visitor(host.url("/"))  # another visitor asks for the same number
    second.evaluate("CallBack.open()")
    send(second, "9161112233")
    alert(second).wait_for()
    assert "несколько раз" in alert(second).inner_text()
    assert [(row.status, row.reject_reason) for row in stored(app)] == [
        ("rejected", "blacklisted"), ("received", None), ("rejected", "limit_number")]


def test_a_form_sent_faster_than_a_person_types_is_refused_and_a_person_gets_through(app, shop, host, visitor):
    """X1: the widget says how long its form was on screen (`form_ms`); under `min_submit_ms` it is a robot."""
    with app.app_context():
        settings.set_setting("min_submit_ms", 1500)
        db.session.commit()
    robot = visitor(host.url("/"))
    robot.evaluate("CallBack.open()")
    send(robot, "9161112233")  # typed at once
    alert(robot).wait_for()
    assert alert(robot).inner_text() == "Не удалось отправить заявку. Попробуйте ещё раз."

    person = visitor(host.url("/"))
    person.evaluate("CallBack.open()")
    person.wait_for_timeout(1700)  # reads the form first
    send(person, "9161112244")
    person.locator("callback-widget .big").wait_for()
    assert [(row.phone, row.status, row.reject_reason) for row in stored(app)] == [
        ("+79161112233", "rejected", "too_fast"), ("+79161112244", "received", None)]


def test_host_css_does_not_leak_in_and_texts_stay_text(app, shop, host, visitor):
    configure(app, shop, {"texts": {"title": "<script>window.__x = 1</script><img src=x onerror='window.__x=2'>"},
                          "design": {"text_color": "#112233"}})
    host.head = "<style>* { color: #00ff00 !important; font-size: 40px !important } dialog { display: none }</style>"
    page = visitor(host.url("/"))
    page.evaluate("CallBack.open()")
    popup(page).wait_for(state="visible")
    title = page.locator("callback-widget #cb-t")
    assert title.inner_text() == "<script>window.__x = 1</script><img src=x onerror='window.__x=2'>"
    assert page.evaluate(f"getComputedStyle({ROOT}.querySelector('#cb-t')).color") == "rgb(17, 34, 51)"
    assert page.evaluate(f"{ROOT}.querySelectorAll('script, img').length") == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.__x === undefined")


def test_touch_exit_by_a_fast_scroll_up_in_a_mobile_viewport(app, shop, host, visitor):
    page = visitor(host.url("/"), touch=True)
    assert page.evaluate("CallBack.state().signals.device") == "touch"
    page.evaluate("scrollTo(0, 6000)")
    read_for(page, 1)
    for y in (5000, 3500, 2000, 500, 0):
        page.evaluate(f"scrollTo(0, {y})")
        page.wait_for_timeout(30)
    popup(page).wait_for(state="visible", timeout=3_000)
    box = popup(page).bounding_box()
    assert box["width"] <= 390 and box["y"] + box["height"] >= 690, "a bottom sheet on a phone"
    send(page)
    page.locator("callback-widget .big").wait_for()
    assert stored(app)[0].visitor["device"] == "touch"


def test_off_hours_offers_a_time(app, shop, host, visitor):
    closed_today = {day: {"is_open": False} for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    closed_today["mon"] = {"is_open": True, "opens_at": "09:00", "closes_at": "18:00"}
    with app.app_context():
        import datetime as dt

        if dt.datetime.now(dt.UTC).weekday() == 0:  # Monday: open another day instead
            closed_today["mon"], closed_today["wed"] = {"is_open": False}, closed_today["mon"]
    configure(app, shop, {"schedule": closed_today})
    page = visitor(host.url("/"))
    page.evaluate("CallBack.open()")
    slots = page.locator("callback-widget #cb-s option")
    assert slots.count() > 1
    page.locator("callback-widget #cb-s").select_option(index=1)
    send(page)
    page.locator("callback-widget .big").wait_for()
    [row] = stored(app)
    assert (row.status, row.mode) == ("scheduled", "scheduled")
    assert row.scheduled_for.hour * 60 + row.scheduled_for.minute == 6 * 60 + 30  # 09:30 Moscow = 06:30 UTC
