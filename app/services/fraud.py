"""Fraud guard (X1) on top of the abuse limits: which numbers may be dialed at all.

Only fixed-line and mobile numbers of a country are called. Premium-rate, shared-cost, toll-free, UAN,
personal, pager, VoIP and voicemail numbers, and the non-geographic ranges (+800, +881, +882, +883 …, region
"001"), are refused: calls to them are how toll fraud (IRSF) earns money.

A number that breaks its per-number limit is blocked for a day; broken again after a block, for good. Staff see
the blocks in force in the back office and may lift one.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from phonenumbers import PhoneNumberType

from app.extensions import db
from app.models import NumberBlock

CALLABLE_TYPES = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
                            PhoneNumberType.FIXED_LINE_OR_MOBILE})
NON_GEOGRAPHIC_REGION = "001"


def number_refusal(number: phonenumbers.PhoneNumber) -> str | None:
    """The reason code why `number` must not be dialed, or None for an ordinary fixed-line or mobile number."""
    if phonenumbers.region_code_for_number(number) == NON_GEOGRAPHIC_REGION:
        return "number_type_not_allowed"
    if phonenumbers.number_type(number) not in CALLABLE_TYPES:
        return "number_type_not_allowed"
    return None


# -- a form filled by a bot ------------------------------------------------------------------------------------

BOT_REASONS = frozenset({"honeypot", "too_fast"})


def bot_refusal(honeypot: str, form_ms: int | None, min_submit_ms: int) -> str | None:
    """"honeypot" when the hidden field was filled, "too_fast" when the form was sent sooner after it was shown
    than a person can (`min_submit_ms`; 0 turns it off), else None. A client that does not say how long the
    form was shown (a direct API call) is left to the limits."""
    if honeypot:
        return "honeypot"
    if form_ms is not None and form_ms < min_submit_ms:
        return "too_fast"
    return None


# -- escalating blocks of numbers that keep being entered ------------------------------------------------------

def active_block(phone: str, now: dt.datetime) -> NumberBlock | None:
    """The block in force on `phone` (E.164) at `now`, if any."""
    return db.session.scalar(sa.select(NumberBlock).where(
        NumberBlock.phone == phone, NumberBlock.lifted_at.is_(None),
        sa.or_(NumberBlock.until.is_(None), NumberBlock.until > now)).limit(1))


def escalate(phone: str, reason: str, now: dt.datetime, block_hours: int) -> NumberBlock | None:
    """Block `phone` after it broke a per-number limit: `block_hours` the first time, for good once a block
    of it has ended (expired or lifted). None when blocks are off (0 hours) or one is in force already."""
    if block_hours <= 0:
        return None
    _serialise_blocks_of(phone)
    if active_block(phone, now) is not None:
        return None
    was_blocked = db.session.scalar(sa.select(sa.func.count()).select_from(NumberBlock)
                                    .where(NumberBlock.phone == phone)) > 0
    until = None if was_blocked else now + dt.timedelta(hours=block_hours)
    block = NumberBlock(phone=phone, reason=reason, created_at=now, until=until)
    db.session.add(block)
    db.session.flush()
    current_app.logger.warning("number blocked %s: %s block=%s", "for good" if until is None else f"until {until}",
                               reason, block.id)
    return block


def _serialise_blocks_of(phone: str) -> None:
    """Concurrent breaches of one number block it once: on PostgreSQL a transaction-scoped advisory lock on the
    number, so the second looks for a block after the first committed its own (SQLite's `BEGIN IMMEDIATE`
    already runs one writing transaction at a time)."""
    if db.session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.blake2b(f"number-block:{phone}".encode(), digest_size=8).digest(), "big",
                                 signed=True)
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id)))


def lift(block: NumberBlock, user_id: int | None, now: dt.datetime) -> None:
    """Staff lift a block: the number may be called again (its limits still apply)."""
    block.lifted_at, block.lifted_by_id = now, user_id
    current_app.logger.warning("number block lifted: block=%s by user=%s", block.id, user_id)
