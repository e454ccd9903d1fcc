"""Abuse limits (X1): sliding-window counters shared by every process, in Redis or else in the database.

A limit counts hits under a key within a window: every hit (`distinct=False`) or distinct members such as
the numbers one IP address asked for (`distinct=True`). `admit` checks every limit of a request and
records the hit in all of them only if all pass, atomically: a Lua script in Redis; in the database, a
transaction that holds the keys' locks (`BEGIN IMMEDIATE` on SQLite, advisory locks on PostgreSQL) and
commits with the request row. A rejected request counts nowhere, so a rejection never extends a block.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import secrets
import time
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from flask import current_app

from app.db import utcnow
from app.extensions import db
from app.models import LimitHit
from app.services import DomainError
from app.services.settings import GlobalSettings, get_settings

REDIS_PREFIX = "callback:limit:"
PREFIX_HIDDEN_DIGITS = 4  # a number's prefix is all of it but its last 4 digits


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits (or distinct members) under `key` within `window_s`; `reason` names a rejection."""

    reason: str
    key: str
    member: str
    window_s: int
    limit: int
    distinct: bool = False


class LimitExceeded(DomainError):
    """A request broke a limit; `code` is the limit's reason (limit_number, limit_session, limit_ip, limit_prefix)."""

    def __init__(self, limit: Limit):
        super().__init__(f"{limit.reason}: more than {limit.limit} in {limit.window_s} s", code=limit.reason)
        self.limit = limit


def request_limits(phone: str, session_id: str | None, ip: str, settings: GlobalSettings | None = None) -> list[Limit]:
    """The limits a callback request counts against, from the global settings.

    Per destination number across all accounts (no call-bombing of a victim), per visitor session, per IP
    address by distinct numbers, which lets a carrier NAT's many visitors through, and per number prefix by
    distinct numbers across all accounts (a run of consecutive numbers is traffic pumping, not visitors).
    """
    settings = settings or get_settings()
    limits = [
        Limit("limit_number", f"number:10m:{phone}", phone, 600, settings.limit_number_per_10min),
        Limit("limit_number", f"number:day:{phone}", phone, 86_400, settings.limit_number_per_day),
        Limit("limit_ip", f"ip:{_network(ip)}", phone, 3600, settings.limit_ip_numbers_per_hour, distinct=True),
        Limit("limit_prefix", f"prefix:{phone[:-PREFIX_HIDDEN_DIGITS]}", phone, 3600,
              settings.limit_prefix_numbers_per_hour, distinct=True),
    ]
    if session_id:
        limits.append(Limit("limit_session", f"session:{session_id}", phone, settings.limit_session_interval_s, 1))
    return limits


def _network(ip: str) -> str:
    """The address an IP limit counts: an IPv6 visitor usually holds a whole /64, so the /64 counts as one."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return str(ipaddress.ip_network(f"{address}/64", strict=False)) if address.version == 6 else str(address)


LONGEST_WINDOW_S = 86_400


def admit(limits: list[Limit]) -> None:
    """Count one request against every limit, or raise LimitExceeded for the first it breaks (counting none)."""
    limits = [limit for limit in limits if limit.limit > 0]
    if not limits:
        return
    broken = _redis_admit(limits) if current_app.config["REDIS_URL"] else _database_admit(limits)
    if broken is not None:
        raise LimitExceeded(broken)


def reset() -> None:
    """Forget every counter (tests and the back office's "unblock" use it)."""
    if current_app.config["REDIS_URL"]:
        client = _redis()
        for key in client.scan_iter(f"{REDIS_PREFIX}*"):
            client.delete(key)
    db.session.execute(sa.delete(LimitHit))
    db.session.flush()


def purge_expired() -> int:
    """Delete database hits older than the longest window; returns how many went."""
    cutoff = utcnow() - dt.timedelta(seconds=LONGEST_WINDOW_S)
    return db.session.execute(sa.delete(LimitHit).where(LimitHit.at < cutoff)).rowcount


# -- the database: hits as rows, counted under the keys' locks -------------------------------------------------

def _database_admit(limits: list[Limit]) -> Limit | None:
    keys = sorted({limit.key for limit in limits})
    _lock_keys(keys)
    now = utcnow()
    since = now - dt.timedelta(seconds=max(limit.window_s for limit in limits))
    hits = db.session.execute(sa.select(LimitHit.key, LimitHit.member, LimitHit.at)
                              .where(LimitHit.key.in_(keys), LimitHit.at > since)).all()
    for limit in limits:
        start = now - dt.timedelta(seconds=limit.window_s)
        members = [hit.member for hit in hits if hit.key == limit.key and hit.at > start]
        if limit.distinct and limit.member in members:
            continue
        if len(set(members) if limit.distinct else members) >= limit.limit:
            return limit
    db.session.execute(sa.insert(LimitHit), [{"key": limit.key, "member": limit.member, "at": now}
                                             for limit in limits])
    return None


def _lock_keys(keys: list[str]) -> None:
    """Serialise requests on the same keys until the transaction ends.

    SQLite's `BEGIN IMMEDIATE` already holds the database's one write lock; PostgreSQL takes transaction-scoped
    advisory locks, in sorted order so that two requests cannot deadlock.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(sa.text("SELECT 1"))  # opens the IMMEDIATE transaction: the write lock
        return
    for key in keys:
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_id(key))))


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


# -- Redis: one sorted set per key (member → time), checked and updated by one script ------------------------------

# KEYS: the limits' keys. ARGV: now (ms), then per limit: window (ms), limit, member, distinct (0/1), unique id.
# Returns 0 when every limit passes (and records the hits), else the 1-based index of the first broken limit.
_ADMIT_SCRIPT = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 5
  local window, limit = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local member, distinct = ARGV[base + 3], ARGV[base + 4] == '1'
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local known = distinct and redis.call('ZSCORE', key, member)
  if not known and redis.call('ZCARD', key) >= limit then return i end
end
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 5
  local member = ARGV[base + 4] == '1' and ARGV[base + 3] or ARGV[base + 5]
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[base + 1]))
end
return 0
"""


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2)


def _redis() -> redis.Redis:
    return _redis_for(current_app.config["REDIS_URL"])


def _redis_admit(limits: list[Limit]) -> Limit | None:
    now_ms = int(time.time() * 1000)
    args: list = [now_ms]
    for number, limit in enumerate(limits):
        args += [limit.window_s * 1000, limit.limit, limit.member, int(limit.distinct),
                 f"{now_ms}:{secrets.token_hex(6)}:{number}"]
    broken = _redis().eval(_ADMIT_SCRIPT, len(limits), *(REDIS_PREFIX + limit.key for limit in limits), *args)
    return limits[broken - 1] if broken else None

