"""The spend cap (X1): an account whose call and SMS charges in an hour reach its cap has its dialing paused
(gate reason `spend_cap`) once, with one alert to the owner and one to the service, until the owner (cabinet)
or staff (back office) resume it; another account is never touched. Charges here are SMS of the starting
tariff (3 RUB each), so the amounts are known."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa
from helpers import csrf_token, login, set_global_setting, top_up

from app.db import utcnow
from app.extensions import db
from app.models import Account, AuditLog, LedgerTransaction, Notification
from app.services import charges, site_settings, sites, spend_guard, widget_config

SMS_KOP = 300  # the starting tariff's SMS retail price
CAP = 1000  # kopecks: the 4th SMS of an hour reaches it
OPS = "ops@callback.example.com"
_SMS = itertools.count(1)


@pytest.fixture
def accounts(app, make_client_user):
    """Two signed-up accounts with money, A with its own cap of 10 RUB: {name: (account id, e-mail, password)}."""
    set_global_setting(app, "service_alert_email", OPS)
    out = {}
    for name in ("a", "b"):
        _, account_id, email, password = make_client_user(f"owner-{name}@shop.example.com")
        with app.app_context():
            top_up(account_id, 100_000)
            if name == "a":
                db.session.get(Account, account_id).spend_cap_per_hour_kop = CAP
            db.session.commit()
        out[name] = (account_id, email, password)
    return out


def _sms(account_id: int, count: int = 1) -> None:
    for _ in range(count):
        charges.charge_sms(account_id, f"cap-{next(_SMS)}")
    db.session.commit()


def _alerts(kind: str = "dialing_paused") -> list[tuple[int, str]]:
    return [(row.account_id, row.recipient) for row in db.session.scalars(
        sa.select(Notification).where(Notification.kind == kind).order_by(Notification.id))]


def _paused(account_id: int) -> bool:
    return db.session.scalar(sa.select(Account.dialing_paused_at).where(Account.id == account_id)) is not None


@pytest.mark.backends
def test_the_charge_that_reaches_the_cap_pauses_dialing_once_and_alerts_owner_and_service(app_ctx, accounts):
    a, owner_a = accounts["a"][0], accounts["a"][1]
    _sms(a, 3)  # 900 < 1000
    assert charges.may_dial(a).allowed and not _paused(a)

    _sms(a)  # 1200: reaches the cap; the charge itself pauses, before any gate asks
    assert _paused(a) and _alerts() == [(a, owner_a)]
    gate = charges.may_dial(a)
    assert (gate.allowed, gate.reason, gate.max_duration_s) == (False, "spend_cap", 0)
    _sms(a, 2)  # SMS already on their way still post; nothing alerts again
    charges.may_dial(a)
    db.session.commit()

    assert _alerts() == [(a, owner_a)]
    assert _alerts("dialing_paused_service") == [(a, OPS)]
    assert spend_guard.spent_kop(db.session.get(Account, a)) == 6 * SMS_KOP


@pytest.mark.backends
def test_calls_in_flight_when_the_cap_is_reached_are_the_only_overshoot(app_ctx, accounts):
    """Five gates admitted before any of their charges posts (five calls in flight): all five charges post,
    the spend ends at most at cap - 1 + 5 x the dearest, the pause and its alerts happen once."""
    a = accounts["a"][0]
    gates = [charges.may_dial(a) for _ in range(5)]
    assert all(gate.allowed for gate in gates)

    _sms(a, 5)

    spent = spend_guard.spent_kop(db.session.get(Account, a))
    assert CAP <= spent <= CAP - 1 + 5 * SMS_KOP
    assert charges.may_dial(a).reason == "spend_cap"
    assert len(_alerts()) == 1 and len(_alerts("dialing_paused_service")) == 1


def test_a_spend_that_no_charge_checked_is_caught_by_the_gate(app_ctx, accounts):
    """Charges posted while the cap was higher (or concurrently, unseen by each other): the next gate pauses."""
    a = accounts["a"][0]
    db.session.get(Account, a).spend_cap_per_hour_kop = 100_000
    _sms(a, 4)
    assert not _paused(a)
    db.session.get(Account, a).spend_cap_per_hour_kop = CAP
    db.session.commit()

    assert charges.may_dial(a).reason == "spend_cap"
    assert charges.may_dial(a).reason == "spend_cap"
    db.session.commit()
    assert _paused(a) and len(_alerts()) == 1 and len(_alerts("dialing_paused_service")) == 1


def test_a_check_that_read_the_account_before_the_pause_neither_pauses_again_nor_alerts(app_ctx, accounts):
    """What a concurrent check does when it read the account before another one's pause committed: the guarded
    update moves nothing, so the pause keeps its time and nothing is alerted twice."""
    a = accounts["a"][0]
    _sms(a, 4)
    paused_at = db.session.get(Account, a).dialing_paused_at

    spend_guard._pause(db.session.get(Account, a), utcnow(), 4 * SMS_KOP, CAP)  # it found the spend at the cap
    db.session.commit()

    assert db.session.get(Account, a).dialing_paused_at == paused_at
    assert len(_alerts()) == 1 and len(_alerts("dialing_paused_service")) == 1


def test_without_a_service_address_every_active_administrator_is_alerted(app, app_ctx, accounts, make_staff_user):
    set_global_setting(app, "service_alert_email", "")
    make_staff_user("admin", "root@callback.example.com")
    make_staff_user("manager", "desk@callback.example.com")
    _sms(accounts["a"][0], 4)
    assert _alerts("dialing_paused_service") == [(accounts["a"][0], "root@callback.example.com")]


def test_only_the_last_hour_counts_and_another_account_is_never_paused(app_ctx, accounts):
    a, b = accounts["a"][0], accounts["b"][0]
    _sms(a, 3)
    db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.kind == "sms")
                       .values(created_at=utcnow() - dt.timedelta(minutes=61)))
    db.session.commit()
    _sms(a, 3)  # 900 in the hour, 1800 in all
    assert charges.may_dial(a).allowed and not _paused(a)

    _sms(b, 20)  # B: 6000, under the global default (1000 RUB); A's cap is A's alone
    assert charges.may_dial(a).allowed and not _paused(a)  # B's spend is not A's
    _sms(a)
    assert charges.may_dial(a).reason == "spend_cap"
    assert charges.may_dial(b).allowed and not _paused(b)
    assert _alerts() == [(a, accounts["a"][1])]


def test_the_global_cap_applies_without_an_own_cap_and_zero_turns_it_off(app, app_ctx, accounts):
    b = accounts["b"][0]
    set_global_setting(app, "spend_cap_per_hour_kop", 600)
    _sms(b, 2)
    assert charges.may_dial(b).reason == "spend_cap"
    spend_guard.resume(db.session.get(Account, b))
    db.session.commit()

    set_global_setting(app, "spend_cap_per_hour_kop", 0)
    _sms(b, 10)
    assert charges.may_dial(b).allowed and not _paused(b)


def _pause(account_id: int) -> None:
    db.session.get(Account, account_id).spend_cap_per_hour_kop = SMS_KOP
    _sms(account_id)
    assert _paused(account_id)


def test_a_paused_account_s_widget_promises_no_call_until_resumed(app_ctx, accounts):
    """While paused the widget is passive (no scenario opens it, no call in 28 s is promised)."""
    a = accounts["a"][0]
    site = sites.create_site(db.session.get(Account, a), "Shop", ["shop.example.com"])
    db.session.commit()

    def widget() -> tuple[str, int]:
        config = widget_config.config_for(site, site_settings.effective_settings(a, site.id))
        return config["mode"], len(config["scenarios"])

    assert widget()[0] != "passive" and widget()[1] > 0
    _pause(a)
    assert widget() == ("passive", 0)
    spend_guard.resume(db.session.get(Account, a))
    db.session.commit()
    assert widget()[0] != "passive" and widget()[1] > 0


def _cabinet(app, email: str, password: str):
    client = app.test_client()
    login(client, email, password)
    return client


def test_the_owner_sees_the_pause_and_resumes_it_from_the_cabinet(app, accounts):
    a, email, password = accounts["a"]
    with app.app_context():
        _sms(a, 4)
        assert charges.may_dial(a).reason == "spend_cap"
    client = _cabinet(app, email, password)

    page = client.get("/cabinet/").get_data(as_text=True)
    assert 'data-testid="dialing-paused"' in page and 'data-testid="dialing-resume"' in page

    response = client.post("/cabinet/dialing/resume", data={"csrf_token": csrf_token(page)})

    assert response.status_code == 302
    assert 'data-testid="dialing-paused"' not in client.get("/cabinet/").get_data(as_text=True)
    with app.app_context():
        account = db.session.get(Account, a)
        assert account.dialing_paused_at is None and account.dialing_resumed_at is not None
        assert charges.may_dial(a).allowed  # the hour's 1200 kop are before the resume: a new window
        _sms(a, 3)
        assert charges.may_dial(a).allowed
        _sms(a)
        assert charges.may_dial(a).reason == "spend_cap"  # the new window reached the cap: paused again
        db.session.commit()
        assert len(_alerts()) == 2  # one per pause


def test_an_owner_resumes_only_their_own_account(app, accounts):
    (a, email_a, password_a), (b, email_b, password_b) = accounts["a"], accounts["b"]
    with app.app_context():
        _pause(a)
        _pause(b)
    client_a = _cabinet(app, email_a, password_a)
    page_b = _cabinet(app, email_b, password_b).get("/cabinet/").get_data(as_text=True)
    assert 'data-testid="dialing-paused"' in page_b

    client_a.post("/cabinet/dialing/resume", data={"csrf_token": csrf_token(client_a.get("/cabinet/").get_data(
        as_text=True))})

    with app.app_context():
        assert not _paused(a) and _paused(b)
        assert charges.may_dial(b).reason == "spend_cap"


def test_a_dashboard_without_a_pause_has_no_banner(app, accounts):
    _, email, password = accounts["a"]
    page = _cabinet(app, email, password).get("/cabinet/").get_data(as_text=True)
    assert 'data-testid="dialing-paused"' not in page


def test_staff_see_the_pause_in_the_back_office_and_resume_it_audited(app, accounts, make_staff_user):
    a, b = accounts["a"][0], accounts["b"][0]
    with app.app_context():
        _pause(a)
        _pause(b)
        since = db.session.get(Account, a).dialing_paused_at.strftime("%Y-%m-%d %H:%M")
    _, email, password = make_staff_user("manager")
    staff = app.test_client()
    login(staff, email, password)
    listing = staff.get("/admin/accounts/").get_data(as_text=True)
    assert since in listing  # the list shows the pause and since when

    response = staff.post("/admin/accounts/action/", data={
        "action": "resume_dialing", "rowid": str(a), "url": "/admin/accounts/", "csrf_token": csrf_token(listing)})

    assert response.status_code == 302
    with app.app_context():
        assert not _paused(a) and _paused(b)
        rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.table_name == "account",
                                                            AuditLog.row_id == str(a))).all()
        assert any("dialing_paused_at" in (row.changes or {}) and email in row.actor for row in rows)


def test_a_client_cannot_use_the_back_office_resume(app, accounts):
    a, b = accounts["a"][0], accounts["b"]
    with app.app_context():
        _pause(a)
    client = _cabinet(app, b[1], b[2])
    response = client.post("/admin/accounts/action/", data={"action": "resume_dialing", "rowid": str(a)})
    assert response.status_code in (302, 400, 403)
    with app.app_context():
        assert _paused(a)
