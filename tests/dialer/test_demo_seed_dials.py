"""The demo of `make run` rings: `demo seed` into a fresh database, the MTT sandbox with the rules `make run`
gives it, and requests posted as the demo page's widget posts them, through the dialer to their outcome, charge,
SMS and e-mail (issue 7, part 9)."""
from __future__ import annotations

import json

import sqlalchemy as sa

from app.cli import DEMO_EMAILS, DEMO_SANDBOX_RULES
from app.extensions import db
from app.models import Department, LedgerTransaction, Notification, SmsMessage
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

VISITOR = "+79031112233"


def _seed(app) -> dict:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _post(app, demo: dict, **fields) -> dict:
    """What the widget on /demo/site sends: the page's own origin, the consent version it was shown."""
    body = {"phone": VISITOR, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT), **fields}
    response = app.test_client().post(f"/api/v1/widget/{demo['site_key']}/callbacks", json=body,
                                      headers={"Origin": demo["site_origin"]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _rows(app, model, *where):
    with app.app_context():
        rows = list(db.session.scalars(sa.select(model).where(*where).order_by(model.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_the_demo_rules_are_the_procfiles():
    root = DEMO_SANDBOX_RULES.parents[2]
    mtt = next(line for line in (root / "Procfile").read_text().splitlines() if line.startswith("mtt:"))
    assert f"--rules {DEMO_SANDBOX_RULES.relative_to(root)}" in mtt


def test_the_demo_request_rings_anna_and_is_charged_with_an_sms(served_app, sandbox, settle, mailbox, fresh_limits):
    sandbox.load_rules(str(DEMO_SANDBOX_RULES))
    demo = _seed(served_app)

    created = _post(served_app, demo)  # "any office", as the widget sends it by default
    request = settle(created["id"])

    assert (created["mode"], request.status, request.outcome) == ("instant", "completed", "success")
    [call] = sandbox.calls.values()
    assert call.destination_a == "79161234567" and call.b_number == VISITOR.lstrip("+")  # Анна answered
    [charge] = _rows(served_app, LedgerTransaction, LedgerTransaction.kind == "call")
    assert charge.key == f"call:{request.id}:1"
    [sms] = _rows(served_app, SmsMessage)
    assert sms.status == "sent" and "Анна" in sms.text
    assert [s["destination"] for s in sandbox.sms] == [VISITOR.lstrip("+")]
    assert [row.key for row in _rows(served_app, LedgerTransaction, LedgerTransaction.kind == "sms")] == [
        f"sms:{sms.id}"]
    assert _rows(served_app, Notification, Notification.kind == "missed_call") == []
    status = served_app.test_client().get(f"/api/v1/callbacks/{created['id']}?token={created['status_token']}")
    assert (status.get_json()["status"], status.get_json()["outcome"]) == ("completed", "success")


def test_the_demo_warehouse_never_answers_and_the_client_is_emailed(served_app, sandbox, settle, mailbox,
                                                                    fresh_limits):
    sandbox.load_rules(str(DEMO_SANDBOX_RULES))
    demo = _seed(served_app)
    with served_app.app_context():
        warehouse = db.session.scalar(sa.select(Department.id).where(Department.name == "Склад"))

    request = settle(_post(served_app, demo, department_id=warehouse)["id"])

    assert (request.status, request.outcome) == ("completed", "manager_no_answer")
    [call] = sandbox.calls.values()
    assert [m["redirect_number"] for m in call.managers] == ["74957654321"]  # only the warehouse's line rang
    [email] = _rows(served_app, Notification, Notification.kind == "missed_call")
    assert email.recipient == DEMO_EMAILS["client"] and VISITOR in email.subject
    assert any(m.rcpt_tos == [DEMO_EMAILS["client"]] and VISITOR in m.text for m in mailbox.wait_for(2))
    assert _rows(served_app, LedgerTransaction, LedgerTransaction.kind == "call") == []  # nobody talked
    assert _rows(served_app, SmsMessage) == []


def test_the_demo_relaxes_the_address_limit_once(app):
    from app.models import Setting
    from app.services import settings

    _seed(app)
    with app.app_context():
        assert settings.get_settings().limit_ip_numbers_per_hour == 30  # loopback is every demo visitor's address
        settings.set_setting("limit_ip_numbers_per_hour", 5)  # the administrator's choice
        db.session.commit()
    _seed(app)  # the next `make run`
    with app.app_context():
        assert settings.get_settings().limit_ip_numbers_per_hour == 5
        assert db.session.get(Setting, "limit_session_interval_s") is None
