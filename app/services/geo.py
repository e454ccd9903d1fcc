"""Where a request comes from: a MaxMind (GeoIP2/GeoLite2 City) database when one is configured."""
from __future__ import annotations

import functools

import maxminddb
from flask import current_app


@functools.cache
def _reader(path: str) -> maxminddb.Reader:
    return maxminddb.open_database(path)


def region_of_ip(ip: str, language: str) -> str | None:
    """City and region of `ip` ("Казань, Татарстан"), or None without a database or a record."""
    path = current_app.config.get("GEOIP_DB_PATH")
    if not path:
        return None
    try:
        record = _reader(path).get(ip)
    except ValueError:  # not an IP address
        return None
    if not isinstance(record, dict):
        return None
    parts = [_name(record.get("city"), language)]
    parts += [_name(subdivision, language) for subdivision in record.get("subdivisions") or []]
    parts.append(_name(record.get("country"), language))
    found = [part for part in parts if part]
    return ", ".join(dict.fromkeys(found)) or None


def _name(place: dict | None, language: str) -> str:
    names = (place or {}).get("names") or {}
    return names.get(language) or names.get("en") or ""
