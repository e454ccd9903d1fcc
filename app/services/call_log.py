"""The cabinet's call log (C3): one account's callback requests, filtered, newest first, in keyset pages.

Every query is scoped to the account given: a site, a manager line or a cursor of another account matches
nothing. Pages are keyed on (created_at, id) descending; the cursor is opaque (url-safe base64 of the last
row's time and id) and a cursor that cannot be read raises `BadCursor`. Exports walk the same filtered set
in keyset batches, so memory stays flat whatever the period.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.extensions import db
from app.models import CallbackRequest, ManagerLine, Site
from app.services import DomainError, phones

PAGE_SIZE = 50
EXPORT_BATCH = 1000


class BadCursor(DomainError):
    code = "bad_cursor"


@dataclasses.dataclass(frozen=True)
class Filters:
    """What the caller asks for; `start`/`end` are aware UTC, half-open [start, end)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    site_id: int | None = None
    status: str | None = None
    outcome: str | None = None
    source: str | None = None
    line_id: int | None = None
    number: str | None = None  # digits as typed: "8 999 555-00", "+7 (999) 555"


@dataclasses.dataclass(frozen=True)
class Row:
    id: int
    created_at: dt.datetime  # aware UTC
    local_time: dt.datetime  # in the account's time zone
    site_id: int
    site_name: str
    page_url: str
    source: str
    keyword: str
    phone: str  # E.164 as stored
    phone_display: str
    manager_name: str
    manager_number: str
    duration_s: int | None
    ip: str
    region: str
    status: str
    outcome: str


@dataclasses.dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None


def number_digits(typed: str) -> str:
    """A number as people type it → the digits to look for in E.164 (a leading Russian 8 of 11 digits → 7).

    `_query` also reads a shorter leading 8 as the start of a Russian number (+7…), beside anywhere in it.
    """
    digits = re.sub(r"\D", "", typed or "")
    return "7" + digits[1:] if len(digits) == 11 and digits.startswith("8") else digits


def encode_cursor(created_at: dt.datetime, request_id: int) -> str:
    raw = f"{created_at.astimezone(dt.UTC).isoformat()}|{request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, request_id = raw.split("|")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment.astimezone(dt.UTC), int(request_id)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadCursor("the cursor cannot be read") from exc


def _query(account_id: int, filters: Filters) -> sa.Select:
    r = CallbackRequest
    query = (sa.select(r.id, r.created_at, r.site_id, Site.name.label("site_name"), r.page_url, r.source, r.keyword,
                       r.phone, ManagerLine.manager_name, ManagerLine.number.label("line_number"), r.duration_s,
                       r.ip, r.region, r.status, r.outcome)
             .join(Site, Site.id == r.site_id)
             .outerjoin(ManagerLine, ManagerLine.id == r.answered_line_id)
             .where(r.account_id == account_id))
    if filters.start is not None:
        query = query.where(r.created_at >= filters.start)
    if filters.end is not None:
        query = query.where(r.created_at < filters.end)
    if filters.site_id is not None:
        query = query.where(r.site_id == filters.site_id)
    if filters.status:
        query = query.where(r.status == filters.status)
    if filters.outcome:
        query = query.where(r.outcome == filters.outcome)
    if filters.source:
        query = query.where(r.source == filters.source)
    if filters.line_id is not None:
        query = query.where(r.answered_line_id == filters.line_id)
    digits = number_digits(filters.number or "")
    if digits:
        matches = [r.phone.contains(digits, autoescape=True)]
        if digits.startswith("8") and len(digits) > 1:  # a Russian number begun with 8 as typed: +7 and the rest
            matches.append(r.phone.startswith("+7" + digits[1:], autoescape=True))
        query = query.where(sa.or_(*matches))
    return query


def _row(data, zone: ZoneInfo) -> Row:
    return Row(id=data.id, created_at=data.created_at, local_time=data.created_at.astimezone(zone),
               site_id=data.site_id, site_name=data.site_name, page_url=data.page_url, source=data.source,
               keyword=data.keyword, phone=data.phone, phone_display=phones.display(data.phone),
               manager_name=data.manager_name or "",
               manager_number=phones.display(data.line_number) if data.line_number else "",
               duration_s=data.duration_s, ip=data.ip, region=data.region, status=data.status,
               outcome=data.outcome or "")


def page(account_id: int, tz: str, filters: Filters, cursor: str | None = None, size: int | None = None) -> Page:
    """One page of the filtered log, newest first, after `cursor` (the previous page's `next_cursor`)."""
    r = CallbackRequest
    size = size or PAGE_SIZE
    query = _query(account_id, filters)
    if cursor:
        at, request_id = decode_cursor(cursor)
        query = query.where(sa.or_(r.created_at < at, sa.and_(r.created_at == at, r.id < request_id)))
    found = db.session.execute(query.order_by(r.created_at.desc(), r.id.desc()).limit(size + 1)).all()
    zone = ZoneInfo(tz)
    rows = [_row(data, zone) for data in found[:size]]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(found) > size else None
    return Page(rows=rows, next_cursor=next_cursor)


def iter_rows(account_id: int, tz: str, filters: Filters, batch: int = EXPORT_BATCH) -> Iterator[Row]:
    """Every row of the filtered log, newest first, fetched in keyset batches (flat memory for exports)."""
    cursor = None
    while True:
        current = page(account_id, tz, filters, cursor, size=batch)
        yield from current.rows
        if current.next_cursor is None:
            return
        cursor = current.next_cursor
