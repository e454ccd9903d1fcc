"""The cabinet's notification page and the unsubscribe link of a real e-mail: own account only, locks hold."""
from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from helpers import csrf_token, login

from app.db import utcnow
from app.extensions import db
from app.models import Account
from app.services import notifications, settings
from app.services.notifications import Preference

PAGE = "/cabinet/notifications"
UNSUBSCRIBE_RE = re.compile(r"(https?://\S+/notifications/unsubscribe/[\w.\-]+)")


@pytest.fixture
def clients(app, make_client_user):
    """Two logged-in clients with English pages: {name: (test client, account id, owner's e-mail)}."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            db.session.get(Account, account_id).locale = "en"
            db.session.commit()
        client = app.test_client()
        login(client, email, password)
        out[name] = (client, account_id, email)
    return out


def _form(client) -> tuple[str, dict]:
    """The page and what a browser would post for it as shown (disabled controls are not sent)."""
    html = client.get(PAGE).get_data(as_text=True)
    data = {"csrf_token": csrf_token(html)}
    for kind in notifications.switchable_kinds():
        row = re.search(rf'<tr data-kind="{kind.key}"(.*?)</tr>', html, re.S).group(0)
        if "data-locked" in row:
            continue
        checkbox = re.search(rf'<input[^>]*name="enabled_{kind.key}"[^>]*>', row).group(0)
        if "checked" in checkbox:
            data[f"enabled_{kind.key}"] = "y"
        selected = re.search(rf'name="frequency_{kind.key}".*?<option selected value="(\w+)"', row, re.S)
        if selected:
            data[f"frequency_{kind.key}"] = selected.group(1)
    threshold = re.search(r'<input[^>]*name="threshold"[^>]*value="([^"]*)"', html)
    data["threshold"] = threshold.group(1) if threshold else ""
    return html, data


def _prefs(app, account_id: int) -> dict[str, Preference]:
    with app.app_context():
        return notifications.preferences(account_id)


def test_the_page_shows_every_kind_and_locked_ones_disabled(clients):
    client, _, _ = clients["alpha"]
    html = client.get(PAGE).get_data(as_text=True)
    for kind in notifications.switchable_kinds():
        assert f'data-kind="{kind.key}"' in html
    assert 'data-testid="locked-topup"' in html and 'data-testid="locked-rent_ending"' in html
    assert "Set by the administrator" in html
    topup_row = re.search(r'<tr data-kind="topup".*?</tr>', html, re.S).group(0)
    assert "disabled" in topup_row
    assert 'data-kind="welcome"' not in html and 'data-kind="call_followup"' not in html
    assert 'value="150"' in html  # the default threshold, roubles


def test_the_page_opens_in_russian_by_default_and_the_cabinet_links_it(app, make_client_user):
    _, _, email, password = make_client_user()
    client = app.test_client()
    login(client, email, password)
    html = client.get(PAGE).get_data(as_text=True)
    assert '<html lang="ru">' in html and 'data-kind="topup"' in html  # the wording is the lead's to translate
    assert PAGE in client.get("/cabinet/").get_data(as_text=True)


def test_a_client_saves_its_choice_for_its_own_account_only(app, clients):
    client, alpha, _ = clients["alpha"]
    beta = clients["beta"][1]
    _, data = _form(client)
    data.pop("enabled_missed_call")
    data["frequency_spending"] = "weekly"
    data["threshold"] = "250,50"
    response = client.post(PAGE, data=data)
    assert response.status_code == 302
    prefs = _prefs(app, alpha)
    assert prefs["missed_call"].enabled is False and prefs["spending"] == Preference(True, "weekly", False)
    assert prefs["passive_request"].enabled is True and prefs["topup"] == Preference(True, "instant", True)
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 25_050
        assert notifications.low_balance_threshold_kop(beta) == 15_000
    assert _prefs(app, beta)["missed_call"].enabled is True
    assert _prefs(app, beta)["spending"].frequency == "daily"
    # Each client's page shows its own values.
    assert 'value="250.50"' in client.get(PAGE).get_data(as_text=True)
    assert 'value="150"' in clients["beta"][0].get(PAGE).get_data(as_text=True)


@pytest.mark.parametrize("crafted", [{"enabled_topup": ""}, {"enabled_topup": "n"},
                                     {"enabled_rent_ending": "false"}, {"frequency_rent_ending": "weekly"}])
def test_a_crafted_post_changing_a_locked_kind_changes_nothing(app, clients, crafted):
    client, alpha, _ = clients["alpha"]
    before = _prefs(app, alpha)
    _, data = _form(client)
    data.pop("enabled_missed_call")  # an allowed change in the same request is not saved either
    response = client.post(PAGE, data={**data, **crafted})
    assert response.status_code == 200
    assert "Not saved: only the administrator can change" in response.get_data(as_text=True)
    assert _prefs(app, alpha) == before


def test_a_kind_locked_for_one_account_is_refused_there_only(app, clients):
    client_a, alpha, _ = clients["alpha"]
    client_b, beta, _ = clients["beta"]
    with app.app_context():
        notifications.set_admin_override(alpha, "spending", locked=True, enabled=True, frequency="instant")
        db.session.commit()
    _, data = _form(client_a)
    response = client_a.post(PAGE, data={**data, "frequency_spending": "weekly"})
    assert "Not saved" in response.get_data(as_text=True)
    assert _prefs(app, alpha)["spending"] == Preference(True, "instant", True)
    _, data = _form(client_b)
    assert client_b.post(PAGE, data={**data, "frequency_spending": "weekly"}).status_code == 302
    assert _prefs(app, beta)["spending"] == Preference(True, "weekly", False)


def test_a_locked_threshold_cannot_be_changed(app, clients):
    client, alpha, _ = clients["alpha"]
    with app.app_context():
        notifications.set_admin_override(alpha, "low_balance", locked=True)
        db.session.commit()
    _, data = _form(client)
    response = client.post(PAGE, data={**data, "threshold": "10"})
    assert response.status_code == 200 and "Only the administrator can change this threshold" in response.get_data(
        as_text=True)
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 15_000


def test_a_bad_threshold_is_shown_next_to_its_field(app, clients):
    client, alpha, _ = clients["alpha"]
    _, data = _form(client)
    response = client.post(PAGE, data={**data, "threshold": "abc"})
    assert response.status_code == 200 and 'id="threshold-error"' in response.get_data(as_text=True)


def test_without_csrf_nothing_is_saved(app, clients):
    client, alpha, _ = clients["alpha"]
    before = _prefs(app, alpha)
    _, data = _form(client)
    data.pop("csrf_token")
    data.pop("enabled_missed_call")
    client.post(PAGE, data=data)
    assert _prefs(app, alpha) == before


def test_strangers_log_in_staff_go_to_the_back_office_and_a_closed_key_is_403(app, client, clients,
                                                                             make_staff_user):
    assert client.get(PAGE).status_code == 302 and "/login" in client.get(PAGE).headers["Location"]
    _, email, password = make_staff_user("manager")
    staff = app.test_client()
    login(staff, email, password)
    assert "/admin" in staff.get(PAGE).headers["Location"]
    with app.app_context():
        keys = [k for k in settings.get_settings().client_permissions if k != "notifications.edit"]
        settings.set_setting("client_permissions", keys)
        db.session.commit()
    assert clients["alpha"][0].get(PAGE).status_code == 403


# --- the unsubscribe link of a real letter ------------------------------------------------------------------------

def _send_missed_call(app, account_id: int, dedup_key: str) -> None:
    context = {"callback": SimpleNamespace(phone="+79161234567", page_url=None),
               "site": SimpleNamespace(name="shop.example"), "outcome": "manager_no_answer", "at": utcnow()}
    with app.app_context():
        assert notifications.notify(account_id, "missed_call", context, dedup_key=dedup_key) is not None
        db.session.commit()


def _link_in(mail) -> str:
    match = UNSUBSCRIBE_RE.search(mail.text)
    assert match, mail.text
    parts = urlsplit(match.group(1))
    return parts.path


def test_the_unsubscribe_link_of_a_received_letter_switches_off_its_own_account_kind(app, mailbox, clients):
    _, alpha, alpha_email = clients["alpha"]
    _, beta, _ = clients["beta"]
    mailbox.clear()
    _send_missed_call(app, alpha, "missed:a")
    [mail] = mailbox.wait_for(1)
    assert mail.rcpt_tos == [alpha_email]
    html_part = mail.message.get_body(preferencelist=("html",)).get_content()
    assert 'data-link="unsubscribe"' in html_part and "/cabinet/notifications" in html_part
    path = _link_in(mail)
    visitor = app.test_client()  # no login
    page = visitor.get(path)
    assert page.status_code == 200 and 'data-testid="unsubscribe-form"' in page.get_data(as_text=True)
    assert _prefs(app, alpha)["missed_call"].enabled is True  # GET changes nothing
    done = visitor.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 200 and 'data-testid="unsubscribed"' in done.get_data(as_text=True)
    after = _prefs(app, alpha)
    assert after["missed_call"].enabled is False
    assert all(pref.enabled for key, pref in after.items() if key != "missed_call")
    assert _prefs(app, beta)["missed_call"].enabled is True
    # Off now: the next missed call of alpha is not sent; beta's still is.
    with app.app_context():
        context = {"callback": SimpleNamespace(phone="+7916", page_url=None), "site": SimpleNamespace(name="s"),
                   "outcome": "failed", "at": utcnow()}
        assert notifications.notify(alpha, "missed_call", context, dedup_key="missed:a2") is None
        assert notifications.notify(beta, "missed_call", context, dedup_key="missed:b2") is not None


def test_a_token_of_one_account_never_touches_another(app, clients):
    _, alpha, _ = clients["alpha"]
    _, beta, _ = clients["beta"]
    with app.app_context():
        token = notifications.unsubscribe_token(alpha, "spending")
    visitor = app.test_client()
    page = visitor.get(f"/notifications/unsubscribe/{token}")
    visitor.post(f"/notifications/unsubscribe/{token}", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert _prefs(app, alpha)["spending"].enabled is False
    assert _prefs(app, beta)["spending"].enabled is True
    # A token edited to name the other account (or anything else) is not found and changes nothing.
    payload, signature = token.split(".")
    with app.app_context():
        beta_payload = notifications.unsubscribe_token(beta, "spending").split(".")[0]
    for forged in (f"{beta_payload}.{signature}", f"{payload}.x{signature[1:]}", "nonsense"):
        assert visitor.get(f"/notifications/unsubscribe/{forged}").status_code == 404
        assert visitor.post(f"/notifications/unsubscribe/{forged}",
                            data={"csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 404
    assert _prefs(app, beta)["spending"].enabled is True


@pytest.mark.parametrize("kind", ["topup", "welcome"])
def test_a_locked_or_always_sent_kind_cannot_be_unsubscribed(app, clients, kind):
    _, alpha, _ = clients["alpha"]
    with app.app_context():
        token = notifications.unsubscribe_token(alpha, kind)
    visitor = app.test_client()
    page = visitor.get(f"/notifications/unsubscribe/{token}")
    assert page.status_code == 200 and 'data-testid="unsubscribe-refused"' in page.get_data(as_text=True)
    response = visitor.post(f"/notifications/unsubscribe/{token}",
                            data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 409
    with app.app_context():
        assert notifications.preference(alpha, kind).enabled is True


def test_an_unsubscribe_post_without_csrf_changes_nothing(app, clients):
    _, alpha, _ = clients["alpha"]
    with app.app_context():
        token = notifications.unsubscribe_token(alpha, "spending")
    response = app.test_client().post(f"/notifications/unsubscribe/{token}")
    assert response.status_code == 400
    assert _prefs(app, alpha)["spending"].enabled is True


def test_saving_the_page_as_shown_stores_nothing_so_global_defaults_still_apply(app, clients):
    client, alpha, _ = clients["alpha"]
    _, data = _form(client)
    assert client.post(PAGE, data=data).status_code == 302
    with app.app_context():
        assert notifications.admin_rows(alpha) == []
        defaults = settings.get_settings().notification_defaults.model_dump()
        defaults["rent_expired"]["enabled"] = False
        settings.set_setting("notification_defaults", defaults)
        db.session.commit()
    assert _prefs(app, alpha)["rent_expired"].enabled is False
    # Clearing the threshold after setting one goes back to the default.
    _, data = _form(client)
    client.post(PAGE, data={**data, "threshold": "300"})
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 30_000
    _, data = _form(client)
    client.post(PAGE, data={**data, "threshold": ""})
    with app.app_context():
        assert notifications.own_low_balance_threshold_kop(alpha) is None
        assert notifications.low_balance_threshold_kop(alpha) == 15_000


def test_a_browser_saves_the_page_while_a_kind_with_several_frequencies_is_locked(app, clients):
    """Disabled controls are not submitted: the form still validates and the locked kind keeps its value."""
    client, alpha, _ = clients["alpha"]
    with app.app_context():
        notifications.set_admin_override(alpha, "spending", locked=True, enabled=True, frequency="weekly")
        db.session.commit()
    _, data = _form(client)
    assert "frequency_spending" not in data and "enabled_spending" not in data
    response = client.post(PAGE, data={**data, "threshold": "x"})
    spending_row = re.search(r'<tr data-kind="spending".*?</tr>', response.get_data(as_text=True), re.S).group(0)
    assert "checked" in spending_row  # shown again as it is, not as "off"
    data.pop("enabled_missed_call")
    assert client.post(PAGE, data=data).status_code == 302
    prefs = _prefs(app, alpha)
    assert prefs["missed_call"].enabled is False and prefs["spending"] == Preference(True, "weekly", True)
