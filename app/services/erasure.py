"""Erasing a visitor's phone number on the owner's request (152-FZ): docs/security.md, "Erasing a number".

Every text and JSON column of every table is searched for the number in the forms the service writes (E.164,
its digits without the plus, the international and national spellings, the national significant number) and
each occurrence is replaced by a pseudonym: `erased-` and 12 hex digits of an HMAC of the number under
SECRET_KEY. Rows stay (requests, attempts and call records are what charges were computed from; money columns
are numbers and are never touched), and one visitor's rows still count as one visitor in the statistics.

Kept on purpose: `blacklist_entry` (an opt-out must keep working, and the number is needed to honour it),
`number_block` (the fraud guard's block protects the number's owner from being called again) and `manager_line`
(the account's own lines, not a visitor's number). Updates go through SQL, not the ORM, so the audit log does not
copy the number it is being erased from. With Redis, the limiter's counters are searched too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from phonenumbers import PhoneNumberFormat

from app.extensions import db
from app.services import limits, phones

KEPT_TABLES = ("blacklist_entry", "number_block", "manager_line")


@dataclasses.dataclass(frozen=True)
class Erasure:
    number: str  # E.164
    pseudonym: str
    changed: dict[str, int]  # table → rows changed (or that would change, in a dry run)


def erase(raw: str, *, dry_run: bool = False, country: str = "RU") -> Erasure:
    """Replace `raw` (any typed form) everywhere outside KEPT_TABLES; commit unless `dry_run`. Idempotent."""
    number = phones.parse(raw, country)
    e164 = phones.e164(number)
    pseudonym = pseudonym_of(e164)
    needles = spellings(number)
    changed = {}
    for table in db.metadata.sorted_tables:
        if table.name not in KEPT_TABLES:
            count = _erase_in(table, needles, pseudonym, dry_run)
            if count:
                changed[table.name] = count
    if current_app.config["REDIS_URL"]:
        count = _erase_in_redis(needles, pseudonym, dry_run)
        if count:
            changed["redis:" + limits.REDIS_PREFIX] = count
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return Erasure(e164, pseudonym, changed)


def pseudonym_of(e164: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return "erased-" + hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()[:12]


def spellings(number: phonenumbers.PhoneNumber) -> list[str]:
    """The forms the number may be stored in, longest first (so a shorter one never splits a longer one)."""
    e164 = phones.e164(number)
    forms = {e164, e164.lstrip("+"), phonenumbers.national_significant_number(number),
             phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
             phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)}
    return sorted(forms, key=len, reverse=True)


def _text_columns(table: sa.Table) -> list[sa.Column]:
    return [column for column in table.columns if isinstance(column.type, sa.String | sa.JSON)]


def _erase_in(table: sa.Table, needles: list[str], pseudonym: str, dry_run: bool) -> int:
    columns = _text_columns(table)
    keys = list(table.primary_key.columns)
    if not columns or not keys:
        return 0
    matches = sa.or_(*(sa.cast(column, sa.Text).contains(needle, autoescape=True)
                       for column in columns for needle in needles))
    selected = keys + [column for column in columns if column not in keys]
    changed = 0
    for row in db.session.execute(sa.select(*selected).where(matches)).mappings():
        values = {column.name: _replaced(row[column], needles, pseudonym, column) for column in columns}
        values = {name: value for name, value in values.items() if value != row[table.c[name]]}
        if values and not dry_run:
            db.session.execute(sa.update(table).where(*(key == row[key] for key in keys)).values(**values))
        changed += bool(values)
    return changed


def _erase_in_redis(needles: list[str], pseudonym: str, dry_run: bool) -> int:
    """The limiter's counters: a key naming the number is deleted; the number as a member is renamed (same time)."""
    client = limits._redis()
    changed = 0
    for key in client.scan_iter(f"{limits.REDIS_PREFIX}*"):
        name = key.decode()
        if any(needle in name for needle in needles):
            changed += 1
            if not dry_run:
                client.delete(key)
            continue
        for needle in needles:
            score = client.zscore(key, needle) if client.type(key) == b"zset" else None
            if score is not None:
                changed += 1
                if not dry_run:
                    client.zrem(key, needle)
                    client.zadd(key, {pseudonym: score})
    return changed


def _replaced(value: Any, needles: list[str], pseudonym: str, column: sa.Column) -> Any:
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, pseudonym)
        length = getattr(column.type, "length", None)
        return value[:length] if length else value
    if isinstance(value, dict):
        return {_replaced(key, needles, pseudonym, column): _replaced(item, needles, pseudonym, column)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, needles, pseudonym, column) for item in value]
    return value
