"""A short-lived cache in each process for the public hot paths (the widget's configuration, its checks).

Entries live WIDGET_CONFIG_CACHE_S seconds (0: nothing is cached), so a change made in the back office or the
cabinet reaches the widget within that time on every process, without any invalidation to get wrong.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cachetools import TTLCache
from flask import current_app

SIZE = 10_000
T = TypeVar("T")
_lock = threading.Lock()


def cached(key: tuple, build: Callable[[], T | None]) -> T | None:
    """The value kept under `key`, else `build()` (kept unless it is None)."""
    ttl = current_app.config["WIDGET_CONFIG_CACHE_S"]
    if ttl <= 0:
        return build()
    cache = current_app.extensions.setdefault("public_cache", TTLCache(maxsize=SIZE, ttl=ttl))
    with _lock:
        found = cache.get(key)
    if found is None:
        found = build()
        if found is not None:
            with _lock:
                cache[key] = found
    return found
