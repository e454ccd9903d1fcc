"""Notification preferences (N1, N3–N5): defaults, the client's choice, global and per-account locks, notify()."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Account, Notification
from app.services import notifications, settings
from app.services.notifications import Preference, PreferenceLocked


@pytest.fixture
def two_accounts(app, make_client_user):
    """{name: (account id, owner's e-mail)} of two signed-up accounts."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, _ = make_client_user(company=f"{name} LLC")
        out[name] = (account_id, email)
    return out


def _missed_call_context() -> dict:
    callback = SimpleNamespace(phone="+79161234567", page_url="https://shop.example/cart")
    return {"callback": callback, "site": SimpleNamespace(name="shop.example"), "outcome": "manager_no_answer",
            "at": utcnow()}


def test_every_kind_of_issue_8_is_in_the_catalogue():
    assert set(notifications.CATALOGUE) == {
        "welcome", "password_changed", "password_reset", "topup", "spending", "low_balance", "rent_ending",
        "rent_expired", "rent_renewed", "missed_call", "passive_request", "quality_report", "call_followup",
        "invoice_issued", "invoice_paid", "dialing_paused", "dialing_paused_service"}  # the last two: X1
    for kind in notifications.CATALOGUE.values():
        assert kind.default_frequency in kind.frequencies
        assert set(kind.frequencies) <= set(notifications.FREQUENCIES)
    switchable = {kind.key for kind in notifications.switchable_kinds()}
    assert not switchable & {"welcome", "password_changed", "password_reset", "call_followup"}
    assert notifications.CATALOGUE["quality_report"].channel == "sms"


def test_defaults_every_kind_on_topup_and_rent_ending_locked(app_ctx, two_accounts):
    account_id, _ = two_accounts["alpha"]
    prefs = notifications.preferences(account_id)
    assert all(pref.enabled for pref in prefs.values())  # N1
    assert prefs["topup"] == Preference(True, "instant", True)  # N5
    assert prefs["rent_ending"] == Preference(True, "daily", True)  # N4
    assert prefs["spending"] == Preference(True, "daily", False)
    assert prefs["low_balance"] == Preference(True, "daily", False)
    assert notifications.preference(account_id, "welcome") == Preference(True, "instant", True)
    assert notifications.low_balance_threshold_kop(account_id) == 15_000  # N3: 150 RUB


@pytest.mark.backends
def test_a_client_choice_applies_to_its_own_account_only(app_ctx, two_accounts):
    alpha, beta = two_accounts["alpha"][0], two_accounts["beta"][0]
    notifications.set_preference(alpha, "spending", enabled=True, frequency="weekly")
    notifications.set_preference(alpha, "missed_call", enabled=False)
    notifications.set_low_balance_threshold_kop(alpha, 50_000)
    db.session.commit()
    assert notifications.preference(alpha, "spending") == Preference(True, "weekly", False)
    assert notifications.preference(alpha, "missed_call").enabled is False
    assert notifications.low_balance_threshold_kop(alpha) == 50_000
    assert notifications.preference(beta, "spending") == Preference(True, "daily", False)
    assert notifications.preference(beta, "missed_call").enabled is True
    assert notifications.low_balance_threshold_kop(beta) == 15_000


def test_a_frequency_the_kind_does_not_have_falls_back_to_its_default(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    assert notifications.set_preference(alpha, "low_balance", enabled=True, frequency="weekly").frequency == "daily"


def test_locked_and_always_sent_kinds_cannot_be_set_by_the_client(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    for kind in ("topup", "rent_ending", "welcome", "password_reset"):
        with pytest.raises(PreferenceLocked):
            notifications.set_preference(alpha, kind, enabled=False)
    assert notifications.preference(alpha, "topup").enabled is True


def test_a_global_lock_overrides_a_choice_the_client_made_before(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    notifications.set_preference(alpha, "spending", enabled=False, frequency="weekly")
    defaults = settings.get_settings().notification_defaults.model_dump()
    defaults["spending"] = {"enabled": True, "frequency": "instant", "locked": True}
    settings.set_setting("notification_defaults", defaults)
    db.session.commit()
    assert notifications.preference(alpha, "spending") == Preference(True, "instant", True)
    with pytest.raises(PreferenceLocked):
        notifications.set_preference(alpha, "spending", enabled=False)
    # Unlocked again, the client's own choice is back.
    defaults["spending"]["locked"] = False
    settings.set_setting("notification_defaults", defaults)
    assert notifications.preference(alpha, "spending") == Preference(False, "weekly", False)


def test_a_global_default_changes_accounts_that_made_no_choice(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    defaults = settings.get_settings().notification_defaults.model_dump()
    defaults["missed_call"]["enabled"] = False
    settings.set_setting("notification_defaults", defaults)
    assert notifications.preference(alpha, "missed_call") == Preference(False, "instant", False)


@pytest.mark.backends
def test_an_admin_lock_for_one_account_overrides_its_client_choice(app_ctx, two_accounts):
    alpha, beta = two_accounts["alpha"][0], two_accounts["beta"][0]
    notifications.set_preference(alpha, "spending", enabled=False)
    notifications.set_preference(beta, "spending", enabled=False)
    notifications.set_admin_override(alpha, "spending", locked=True, enabled=True, frequency="instant")
    db.session.commit()
    assert notifications.preference(alpha, "spending") == Preference(True, "instant", True)
    with pytest.raises(PreferenceLocked):
        notifications.set_preference(alpha, "spending", enabled=False)
    assert notifications.preference(beta, "spending") == Preference(False, "daily", False)


def test_an_admin_may_open_a_globally_locked_kind_to_one_account(app_ctx, two_accounts):
    alpha, beta = two_accounts["alpha"][0], two_accounts["beta"][0]
    notifications.set_admin_override(alpha, "topup", locked=False)
    notifications.set_preference(alpha, "topup", enabled=False)
    assert notifications.preference(alpha, "topup") == Preference(False, "instant", False)
    assert notifications.preference(beta, "topup") == Preference(True, "instant", True)
    # Back to the global lock: the administrator's default applies again.
    notifications.set_admin_override(alpha, "topup", locked=None)
    assert notifications.preference(alpha, "topup") == Preference(True, "instant", True)


def test_a_locked_low_balance_kind_keeps_its_threshold(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    notifications.set_admin_override(alpha, "low_balance", locked=True)
    with pytest.raises(PreferenceLocked):
        notifications.set_low_balance_threshold_kop(alpha, 1_000)
    assert notifications.low_balance_threshold_kop(alpha) == 15_000


def test_notify_queues_mail_to_the_owner_in_the_account_language(app_ctx, two_accounts):
    alpha, email = two_accounts["alpha"]
    db.session.get(Account, alpha).locale = "en"
    notification = notifications.notify(alpha, "missed_call", _missed_call_context(), dedup_key="t:1")
    assert notification is not None and notification.recipient == email and notification.locale == "en"
    assert "Missed call from shop.example" in notification.subject
    text = notification.body_text
    assert "/notifications/unsubscribe/" in text and "/cabinet/notifications" in text
    assert 'data-link="unsubscribe"' in notification.body_html
    assert notifications.notify(alpha, "missed_call", _missed_call_context(), dedup_key="t:1") is None  # dedup


def test_notify_sends_nothing_when_the_kind_is_off_or_at_another_frequency(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    notifications.set_preference(alpha, "missed_call", enabled=False)
    assert notifications.notify(alpha, "missed_call", _missed_call_context(), dedup_key="off:1") is None
    # spending is daily by default: an instant call is not sent, the daily digest is.
    assert notifications.preference(alpha, "spending").frequency == "daily"
    kind_count = db.session.scalar(sa.select(sa.func.count(Notification.id)).where(Notification.kind == "missed_call"))
    assert kind_count == 0


def test_an_always_sent_letter_has_the_preferences_link_but_no_unsubscribe(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    welcome = db.session.scalar(sa.select(Notification).where(Notification.account_id == alpha,
                                                              Notification.kind == "welcome"))
    assert "/cabinet/notifications" in welcome.body_text and "/notifications/unsubscribe/" not in welcome.body_text


def test_a_token_names_one_account_and_kind_and_a_tampered_one_nothing(app_ctx, two_accounts):
    alpha = two_accounts["alpha"][0]
    token = notifications.unsubscribe_token(alpha, "spending")
    assert notifications.read_unsubscribe_token(token) == (alpha, "spending")
    assert notifications.read_unsubscribe_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) is None
    assert notifications.read_unsubscribe_token("garbage") is None
    assert notifications.read_unsubscribe_token(notifications.unsubscribe_token(10_000, "spending")) is None


def test_every_letter_template_prints_the_preference_links():
    """A new template that forgets the layout or the text footer would send letters without the links."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "app" / "templates" / "email"
    kinds = {path.name.split(".")[0] for path in folder.glob("*.subject.txt")}
    assert kinds <= set(notifications.CATALOGUE)
    for kind in kinds:
        assert '{% extends "email/_layout.html" %}' in (folder / f"{kind}.html").read_text(), kind
        assert '{% include "email/_footer.txt" %}' in (folder / f"{kind}.txt").read_text(), kind
