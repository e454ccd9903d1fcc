"""The back office's notification settings: global defaults and locks, one account's overrides and locks."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import form_values, login, submit_as_shown

from app.extensions import db
from app.models import AuditLog, NotificationPreference
from app.services import notifications
from app.services.notifications import Preference
from app.services.settings import get_settings

GLOBAL = "/admin/global-settings/"


@pytest.fixture
def accounts(make_client_user):
    """{name: account id} of two signed-up accounts."""
    return {name: make_client_user(company=f"{name} LLC")[1] for name in ("alpha", "beta")}


@pytest.fixture
def staff(app, make_staff_user):
    """{role: logged-in test client} for an administrator and a manager."""
    out = {}
    for role in ("admin", "manager"):
        _, email, password = make_staff_user(role)
        client = app.test_client()
        login(client, email, password)
        out[role] = client
    return out


def _page(account_id: int) -> str:
    return f"/admin/account-notifications/account/{account_id}"


def _prefs(app, account_id: int) -> dict[str, Preference]:
    with app.app_context():
        return notifications.preferences(account_id)


def test_the_global_settings_edit_defaults_and_locks_of_every_kind(app, staff, accounts):
    page = staff["admin"].get(GLOBAL).get_data(as_text=True)
    values = form_values(page)
    assert values["notification_defaults-topup-locked"] == ["y"]
    assert values["notification_defaults-spending-frequency"] == ["daily"]
    assert "notification_defaults-welcome-enabled" not in values  # always sent: not a setting
    shown = {name: value for name, value in values.items() if name != "notification_defaults-topup-locked"}
    shown["notification_defaults-missed_call-enabled"] = []
    response = staff["admin"].post(GLOBAL, data=shown)
    assert response.status_code == 302
    with app.app_context():
        defaults = get_settings().notification_defaults
        assert defaults.topup.locked is False and defaults.missed_call.enabled is False
    prefs = _prefs(app, accounts["alpha"])
    assert prefs["topup"] == Preference(True, "instant", False)
    assert prefs["missed_call"].enabled is False


def test_a_frequency_a_kind_does_not_have_is_refused(app, staff):
    response = submit_as_shown(staff["admin"], GLOBAL, {"notification_defaults-low_balance-frequency": "weekly"})
    assert response.status_code == 200
    with app.app_context():
        assert get_settings().notification_defaults.low_balance.frequency == "daily"


def test_the_form_posted_as_shown_stores_nothing(app, staff, accounts):
    with app.app_context():
        audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    assert submit_as_shown(staff["admin"], _page(accounts["alpha"]), {}).status_code == 302
    with app.app_context():
        assert db.session.scalars(sa.select(NotificationPreference)).all() == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == audit


def test_an_admin_lock_for_one_account_overrides_the_client_choice(app, staff, accounts):
    alpha, beta = accounts["alpha"], accounts["beta"]
    with app.app_context():
        notifications.set_preference(alpha, "spending", enabled=False, frequency="weekly")
        db.session.commit()
    assert _page(alpha) in staff["admin"].get("/admin/accounts/").get_data(as_text=True)
    assert staff["admin"].get("/admin/account-notifications/").headers["Location"].endswith("/admin/accounts/")
    response = submit_as_shown(staff["admin"], _page(alpha), {"lock_spending": "locked", "enabled_spending": "y",
                                                              "frequency_spending": "instant"})
    assert response.status_code == 302
    assert _prefs(app, alpha)["spending"] == Preference(True, "instant", True)
    assert _prefs(app, beta)["spending"] == Preference(True, "daily", False)
    with app.app_context(), pytest.raises(notifications.PreferenceLocked):
        notifications.set_preference(alpha, "spending", enabled=False)
    page = staff["admin"].get(_page(alpha)).get_data(as_text=True)
    assert 'data-testid="in-force-spending"' in page


def test_an_admin_opens_a_globally_locked_kind_to_one_account(app, staff, accounts):
    alpha, beta = accounts["alpha"], accounts["beta"]
    assert submit_as_shown(staff["admin"], _page(alpha), {"lock_topup": "open"}).status_code == 302
    with app.app_context():
        notifications.set_preference(alpha, "topup", enabled=False)
        db.session.commit()
    assert _prefs(app, alpha)["topup"] == Preference(False, "instant", False)
    assert _prefs(app, beta)["topup"] == Preference(True, "instant", True)


def test_a_manager_sees_the_page_but_cannot_lock(app, staff, accounts):
    alpha = accounts["alpha"]
    page = staff["manager"].get(_page(alpha))
    assert page.status_code == 200
    response = submit_as_shown(staff["manager"], _page(alpha), {"lock_spending": "locked"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(sa.select(NotificationPreference)).all() == []
    # Nor change a locked kind's value.
    values = form_values(staff["manager"].get(_page(alpha)).get_data(as_text=True))
    values.pop("enabled_topup", None)
    staff["manager"].post(_page(alpha), data=values)
    assert _prefs(app, alpha)["topup"] == Preference(True, "instant", True)
    # What the client itself could change, a manager may.
    assert submit_as_shown(staff["manager"], _page(alpha), {"frequency_spending": "weekly"}).status_code == 302
    assert _prefs(app, alpha)["spending"] == Preference(True, "weekly", False)


def test_clients_and_strangers_never_reach_the_page(app, client, accounts, make_client_user):
    _, _, email, password = make_client_user()
    assert client.get(_page(accounts["alpha"])).status_code == 302
    login(client, email, password)
    assert client.get(_page(accounts["alpha"])).status_code == 403
    assert client.post(_page(accounts["alpha"]), data={"lock_topup": "open"}).status_code in (400, 403)
    assert _prefs(app, accounts["alpha"])["topup"].locked is True


def test_an_unknown_account_is_404(staff):
    assert staff["admin"].get(_page(999_999)).status_code == 404


def test_the_threshold_per_account(app, staff, accounts):
    alpha, beta = accounts["alpha"], accounts["beta"]
    assert submit_as_shown(staff["manager"], _page(alpha), {"threshold": "500"}).status_code == 302
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 50_000
        assert notifications.low_balance_threshold_kop(beta) == 15_000
    # Locked with a threshold by an administrator: a manager cannot change it, the client neither.
    response = submit_as_shown(staff["admin"], _page(alpha), {"lock_low_balance": "locked", "threshold": "1000"})
    assert response.status_code == 302
    assert submit_as_shown(staff["manager"], _page(alpha), {"threshold": "10"}).status_code == 200
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 100_000
        with pytest.raises(notifications.PreferenceLocked):
            notifications.set_low_balance_threshold_kop(alpha, 0)
    response = submit_as_shown(staff["admin"], _page(alpha), {"threshold": "abc"})
    assert response.status_code == 200 and 'id="threshold-error"' in response.get_data(as_text=True)
    # Emptied: the global default again.
    assert submit_as_shown(staff["admin"], _page(alpha), {"threshold": ""}).status_code == 302
    with app.app_context():
        assert notifications.low_balance_threshold_kop(alpha) == 15_000
