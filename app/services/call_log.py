"""The cabinet's call log (C3): one account's callback requests, filtered and sorted, in keyset pages.

Every query is scoped to the account given: a site, a manager line or a cursor of another account matches
nothing. Sorts (`SORTS`): newest first on (created_at, id) descending, oldest first ascending, longest talk
first on (duration or -1, created_at, id) descending. The cursor is opaque (url-safe base64 of the sort's
name and the last row's key values); one that cannot be read or was made for another sort raises `BadCursor`.
Exports walk the same filtered, sorted set in keyset batches, so memory stays flat whatever the period.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.extensions import db
from app.models import CallbackRequest, ManagerLine, Site
from app.services import DomainError, phones

PAGE_SIZE = 50
EXPORT_BATCH = 1000
SORTS = ("new", "old", "long")  # newest first, oldest first, longest talk first


_line_display = functools.lru_cache(maxsize=256)(phones.display)  # an account has at most 15 lines


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


def _sort_keys(sort: str) -> list[tuple[sa.ColumnElement, bool]]:
    """The columns a sort orders by, each with "descending?"; the last one (the id) makes the order total."""
    r = CallbackRequest
    if sort == "old":
        return [(r.created_at, False), (r.id, False)]
    if sort == "long":  # longest talk first; requests without a duration after every talk
        return [(sa.func.coalesce(r.duration_s, -1), True), (r.created_at, True), (r.id, True)]
    return [(r.created_at, True), (r.id, True)]


class BadSort(DomainError):
    code = "bad_sort"


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise BadSort(f"unknown sort {sort!r}")


def encode_cursor(sort: str, created_at: dt.datetime, request_id: int, duration_s: int | None = None) -> str:
    """After the row with these values in the order of `sort`: the sort's name and the row's key values."""
    _check_sort(sort)
    parts = [sort, created_at.astimezone(dt.UTC).isoformat(), str(request_id)]
    if sort == "long":
        parts.insert(1, str(-1 if duration_s is None else duration_s))
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list:
    """The key values of a cursor made for `sort`; a cursor of another sort or unreadable raises `BadCursor`."""
    _check_sort(sort)
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        if parts[0] != sort or len(parts) != len(_sort_keys(sort)) + 1:
            raise ValueError("a cursor of another sort")
        moment = dt.datetime.fromisoformat(parts[-2])
        if moment.tzinfo is None:
            raise ValueError("naive time")
        values = [moment.astimezone(dt.UTC), int(parts[-1])]
        return [int(parts[1]), *values] if sort == "long" else values
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadCursor("the cursor cannot be read") from exc


def _after(keys: list[tuple[sa.ColumnElement, bool]], values: list) -> sa.ColumnElement:
    """Rows strictly after the given key values in the keys' order (a portable row-value comparison)."""
    alternatives = []
    for index, (column, descending) in enumerate(keys):
        equal = [keys[i][0] == values[i] for i in range(index)]
        alternatives.append(sa.and_(*equal, column < values[index] if descending else column > values[index]))
    return sa.or_(*alternatives)


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
               manager_number=_line_display(data.line_number) if data.line_number else "",
               duration_s=data.duration_s, ip=data.ip, region=data.region, status=data.status,
               outcome=data.outcome or "")


def page(account_id: int, tz: str, filters: Filters, cursor: str | None = None, size: int | None = None,
         sort: str = "new") -> Page:
    """One page of the filtered log in the order of `sort`, after `cursor` (the previous page's `next_cursor`)."""
    _check_sort(sort)
    size = size or PAGE_SIZE
    keys = _sort_keys(sort)
    query = _query(account_id, filters)
    if cursor:
        query = query.where(_after(keys, decode_cursor(cursor, sort)))
    order = [column.desc() if descending else column.asc() for column, descending in keys]
    found = db.session.execute(query.order_by(*order).limit(size + 1)).all()
    zone = ZoneInfo(tz)
    rows = [_row(data, zone) for data in found[:size]]
    last = rows[-1] if len(found) > size else None
    next_cursor = encode_cursor(sort, last.created_at, last.id, last.duration_s) if last else None
    return Page(rows=rows, next_cursor=next_cursor)


def iter_rows(account_id: int, tz: str, filters: Filters, batch: int = EXPORT_BATCH,
              sort: str = "new") -> Iterator[Row]:
    """Every row of the filtered log in the order of `sort`, fetched in keyset batches (flat memory for exports)."""
    cursor = None
    while True:
        current = page(account_id, tz, filters, cursor, size=batch, sort=sort)
        yield from current.rows
        if current.next_cursor is None:
            return
        cursor = current.next_cursor
