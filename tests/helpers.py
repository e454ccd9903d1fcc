"""Test helpers that act as a browser would: forms with their CSRF token, logging in."""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
from html.parser import HTMLParser

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


class _FormReader(HTMLParser):
    """Collects what a browser would send for the forms whose class names `form_class`."""

    def __init__(self, form_class: str):
        super().__init__()
        self.form_class, self.pairs = form_class, []
        self._inside = False
        self._select: str | None = None
        self._textarea: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._inside = self.form_class in (attrs.get("class") or "").split()
        elif self._inside and tag == "input" and attrs.get("name"):
            self._input(attrs)
        elif self._inside and tag == "select":
            self._select = attrs.get("name")
        elif self._inside and tag == "option" and self._select and "selected" in attrs:
            self.pairs.append((self._select, attrs.get("value", "")))
        elif self._inside and tag == "textarea":
            self._textarea = [attrs["name"], ""]

    def _input(self, attrs):
        kind = attrs.get("type", "text")
        if kind in ("submit", "button") or (kind in ("checkbox", "radio") and "checked" not in attrs):
            return
        self.pairs.append((attrs["name"], attrs.get("value", "on" if kind in ("checkbox", "radio") else "")))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.pairs.append((name, text.removeprefix("\r\n").removeprefix("\n")))
            self._textarea = None


def form_values(html: str, form_class: str = "schema-form") -> dict[str, list[str]]:
    """The values a browser would submit from the page's form as shown (checked boxes, selected options)."""
    reader = _FormReader(form_class)
    reader.feed(html)
    values: dict[str, list[str]] = {}
    for name, value in reader.pairs:
        values.setdefault(name, []).append(value)
    return values


def submit_as_shown(client, url: str, changes: dict, **kwargs):
    """Fetch the page, keep every value of its form as shown, apply `changes` (a value or a list), post it."""
    values = form_values(client.get(url).get_data(as_text=True))
    values.update({name: value if isinstance(value, list) else [value] for name, value in changes.items()})
    return client.post(url, data=values, **kwargs)


_DATABASES = itertools.count()


def fresh_database_url(backend: str, directory, request) -> str:
    """A freshly migrated database of `backend`, copied from a template migrated once per session."""
    if backend == "sqlite":
        path = directory / "callback.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    template = request.getfixturevalue("postgres_template")
    postgres = request.getfixturevalue("postgres")
    name = f"callback_test_{os.getpid()}_{next(_DATABASES)}"
    with postgres.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    request.addfinalizer(lambda: postgres.drop_database(name))
    return postgres.url(name)


@contextlib.contextmanager
def collection_app():
    """A throwaway app for reading what is registered (admin views, routes) at test collection time."""
    from app import create_app
    from app.extensions import db

    tmp = tempfile.mkdtemp(prefix="callback-collect-")
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "collect", "INSTANCE_PATH": tmp,
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/collect.sqlite",
                          "HUEY_SQLITE_PATH": f"{tmp}/huey.sqlite", "RATELIMIT_STORAGE_URI": "memory://"})
        yield app
        with app.app_context():
            db.engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SITES = itertools.count(1)


def make_site(app, *, domains=("https://shop.example.com",), settings: dict | None = None, is_active: bool = True):
    """Factory: a new account with one site (and its settings, if given); returns the Site, detached but loaded."""
    import datetime as dt

    from app.db import utcnow
    from app.extensions import db
    from app.models import Account
    from app.services import site_settings, sites

    number = next(_SITES)
    with app.app_context():
        # In its free trial, as after sign-up: an account with no trial and no rent has a passive widget (B4).
        account = Account(client_code=f"SITE-{number}", company=f"Shop {number}",
                          trial_ends_at=utcnow() + dt.timedelta(days=14))
        db.session.add(account)
        db.session.flush()
        site = sites.create_site(account, f"Shop {number}", list(domains))
        site.is_active = is_active
        if settings:
            site_settings.save(account.id, site.id, settings)
        db.session.commit()
        return site


def save_site_settings(app, site, values: dict) -> None:
    """Save a new version of a site's own settings document, as the back office does."""
    from app.extensions import db
    from app.services import site_settings

    with app.app_context():
        site_settings.save(site.account_id, site.id, values)
        db.session.commit()


def set_global_setting(app, key: str, value) -> None:
    from app.extensions import db
    from app.services.settings import set_setting

    with app.app_context():
        set_setting(key, value)
        db.session.commit()


def api_error(response) -> tuple[int, str]:
    """(HTTP status, the API's stable error code) of a JSON error response."""
    body = response.get_json(silent=True) or {}
    return response.status_code, (body.get("error") or {}).get("code")


_TOP_UPS = itertools.count(1)


def top_up(account_id: int, amount_kop: int) -> None:
    """Move money onto (or, negative, off) a client's balance, as a payment would; inside an app context."""
    from app.services import ledger

    ledger.post(f"test-topup:{account_id}:{next(_TOP_UPS)}", "topup", [
        (ledger.client_account(account_id), amount_kop),
        (ledger.system_account("system:test-payments"), -amount_kop)])
