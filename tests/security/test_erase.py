"""`flask erase-phone NUMBER [--dry-run]` (152-FZ, docs/security.md): a visitor's number leaves every table."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import current_app
from helpers import make_site, top_up
from request_rows import request_row

from app.db import utcnow
from app.extensions import db
from app.models import (
    BlacklistEntry,
    CallAttempt,
    CallbackRequest,
    CallRecord,
    Notification,
    NumberBlock,
    ProviderEvent,
    SmsMessage,
)
from app.services import blacklist, ledger, limits
from app.services.erasure import pseudonym_of
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

VICTIM, OTHER = "+79123456789", "+79261112233"
# How each number is written somewhere: E.164, the digits MTT sends, the e-mail's and the cabinet's spellings.
SPELLINGS = {VICTIM: ("+79123456789", "79123456789", "+7 912 345-67-89", "8 (912) 345-67-89"),
             OTHER: ("+79261112233", "79261112233", "+7 926 111-22-33", "8 (926) 111-22-33")}


def submit(client, site, typed: str, ip: str) -> None:
    """The widget's request through the public API: the request, its consent record and the limiter's hits."""
    response = client.post(f"/api/v1/widget/{site.public_key}/callbacks",
                           json={"phone": typed, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)},
                           headers={"Origin": "https://shop.example.com"}, environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 201, response.get_json()


def add_call_trail(account_id: int, site_id: int, number: str) -> None:
    """A dialled request's attempt, provider events, call record, SMS and e-mail, each naming the number."""
    e164, digits, international, national = SPELLINGS[number]
    request = request_row(account_id, site_id, phone=e164, status="completed", outcome="success")
    db.session.add(request)
    db.session.flush()
    attempt = CallAttempt(request_id=request.id, status="ended", provider="mtt", provider_call_id=f"c-{request.id}",
                          token_hash=f"{request.id:064d}", plan={"client_number": e164, "legs": [{"address": "101"}]})
    db.session.add(attempt)
    db.session.flush()
    db.session.add(ProviderEvent(attempt_id=attempt.id, provider="mtt", provider_call_id=attempt.provider_call_id,
                                 leg="B", event="start_side_B", kind="answered", raw={"b_number": digits}))
    db.session.add(CallRecord(attempt_id=attempt.id, raw={"client": {"number": digits}}, is_final=True,
                              cost_kop=300))
    db.session.add(SmsMessage(account_id=account_id, request_id=request.id, kind="call_followup", destination=e164,
                              sender="MTT", text=f"Мы звонили на {international}", provider="mtt"))
    db.session.add(Notification(account_id=account_id, kind="missed_call", recipient="boss@acme.example.com",
                                subject=f"Пропущенный звонок {international}", body_text=f"Клиент {national}",
                                body_html=f"<p>{international}</p>"))


def text_values(number: str) -> dict[str, list]:
    """Every text or JSON value of every table that holds one of the number's spellings, by table."""
    found = {}
    for table in db.metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, sa.String | sa.JSON)]
        for column in columns:
            for value in db.session.scalars(sa.select(sa.cast(column, sa.Text))):
                if value and any(spelling in value for spelling in SPELLINGS[number]):
                    found.setdefault(table.name, []).append(value)
    _redis_values(number, found)
    return found


def _redis_values(number: str, found: dict) -> None:
    if current_app.config["REDIS_URL"]:
        client = limits._redis()
        for key in client.scan_iter(f"{limits.REDIS_PREFIX}*"):
            values = [key.decode()] + [member.decode() for member in client.zrange(key, 0, -1)]
            found.setdefault("redis", []).extend(value for value in values
                                                 if any(spelling in value for spelling in SPELLINGS[number]))
        if not found.get("redis"):
            found.pop("redis", None)


@pytest.fixture
def shops(app, client, fresh_limits):
    first, second = make_site(app), make_site(app)
    submit(client, first, "8 (912) 345-67-89", "10.1.1.1")
    submit(client, first, "+79261112233", "10.1.1.2")
    submit(client, second, "+7 926 111 22 33", "10.1.1.3")
    with app.app_context():
        for shop, number in ((first, VICTIM), (first, OTHER), (second, OTHER)):
            add_call_trail(shop.account_id, shop.id, number)
        db.session.add(BlacklistEntry(account_id=first.account_id, kind="number", value=VICTIM, note="opt-out"))
        db.session.add(NumberBlock(phone=VICTIM, reason="limit_number", created_at=utcnow(), until=None))
        for shop in (first, second):
            top_up(shop.account_id, 50_000)
        db.session.commit()
    return first, second


@pytest.mark.backends
def test_erasing_a_number_removes_it_from_every_table_and_keeps_the_rest(app, shops):
    first, second = shops
    with app.app_context():
        assert set(text_values(VICTIM)) >= {"callback_request", "consent_record", "call_attempt", "provider_event",
                                            "call_record", "sms_message", "notification"}
        assert {"limit_hit", "redis"} & set(text_values(VICTIM))  # the limiter's counters, wherever they are
        other_before = text_values(OTHER)
        balances = [ledger.balance(shop.account_id) for shop in shops]
        requests_before = db.session.scalar(sa.select(sa.func.count()).select_from(CallbackRequest))

    result = app.test_cli_runner().invoke(args=["erase-phone", "8 912 345 67 89"])

    assert result.exit_code == 0, result.output
    assert "callback_request: replaced in 2 row(s)" in result.output and "consent_record" in result.output
    with app.app_context():
        # the opt-out and the fraud guard's block stay, or the victim could be called again (docs/security.md)
        assert set(text_values(VICTIM)) == {"blacklist_entry", "number_block"}
        assert text_values(OTHER) == other_before
        assert [ledger.balance(shop.account_id) for shop in shops] == balances
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallbackRequest)) == requests_before
        pseudonym = pseudonym_of(VICTIM)
        phones = db.session.scalars(sa.select(CallbackRequest.phone)
                                    .where(CallbackRequest.account_id == first.account_id))
        assert sorted(phones) == sorted([pseudonym, pseudonym, OTHER, OTHER])
        assert db.session.scalar(sa.select(CallRecord.cost_kop).join(CallAttempt).join(CallbackRequest)
                                 .where(CallbackRequest.phone == pseudonym)) == 300
        assert blacklist.is_blocked(first.account_id, "number", VICTIM)


def test_a_dry_run_changes_nothing_and_a_second_run_finds_nothing(app, shops):
    runner = app.test_cli_runner()
    with app.app_context():
        before = text_values(VICTIM)

    dry = runner.invoke(args=["erase-phone", "--dry-run", "+7 (912) 345-67-89"])

    assert dry.exit_code == 0 and "callback_request: would replace in 2 row(s)" in dry.output
    with app.app_context():
        assert text_values(VICTIM) == before
    assert "callback_request: replaced" in runner.invoke(args=["erase-phone", "+79123456789"]).output
    again = runner.invoke(args=["erase-phone", "+79123456789"])
    assert again.exit_code == 0 and "nothing to erase" in again.output


def test_a_number_that_is_not_one_is_refused_readably(app):
    result = app.test_cli_runner().invoke(args=["erase-phone", "12ab"])
    assert result.exit_code != 0 and "not a phone number" in result.output and "Traceback" not in result.output
