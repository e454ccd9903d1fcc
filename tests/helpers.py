"""Test helpers that act as a browser would: forms with their CSRF token, logging in."""
from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


def submit(client, url: str, data: dict, *, page: str | None = None, **kwargs):
    """Post a form as a browser would: fetch the page, take its CSRF token, send the fields."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data}, **kwargs)


def login(client, email: str, password: str):
    return submit(client, "/login", {"email": email, "password": password})
