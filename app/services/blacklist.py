"""Blacklists of numbers and IP addresses (D13): per account and global."""
from __future__ import annotations

import ipaddress

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import BlacklistEntry
from app.services import DomainError


class BlacklistError(DomainError):
    code = "invalid_blacklist_entry"


def normalise(kind: str, value: str) -> str:
    """E.164 for numbers, the canonical text of an IP address."""
    value = (value or "").strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError as exc:
            raise BlacklistError(_l("This is not an IP address.")) from exc
    try:
        number = phonenumbers.parse(value, "RU")
    except phonenumbers.NumberParseException as exc:
        raise BlacklistError(_l("This is not a phone number.")) from exc
    if not phonenumbers.is_possible_number(number):
        raise BlacklistError(_l("This is not a phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_blocked(account_id: int, kind: str, value: str) -> bool:
    """True if the account's list or the global list has this number or address."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(BlacklistEntry).where(
            BlacklistEntry.kind == kind, BlacklistEntry.value == normalise(kind, value),
            sa.or_(BlacklistEntry.account_id == account_id, BlacklistEntry.account_id.is_(None)))) > 0


def is_blocked_any(account_id: int, *, number: str, ip: str) -> bool:
    """True if the account's list or the global list has the number or the address (one query)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(BlacklistEntry).where(
            sa.or_(sa.and_(BlacklistEntry.kind == "number", BlacklistEntry.value == normalise("number", number)),
                   sa.and_(BlacklistEntry.kind == "ip", BlacklistEntry.value == normalise("ip", ip))),
            sa.or_(BlacklistEntry.account_id == account_id, BlacklistEntry.account_id.is_(None)))) > 0
