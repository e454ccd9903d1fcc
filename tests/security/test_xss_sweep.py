"""Stored XSS through every text a client, a manager or a visitor can put in (issue 10, item 2).

The isolation sweep's account A is poisoned, generated from the schema so a new field is covered without
editing this file:

* every String/Text column of the account's own tables (the account, and each table with `account_id`) that
  is not in STRUCTURED (codes, numbers, hashes, enumerations no person types) gets a payload naming its column;
  a column named like a URL gets a `javascript:` link;
* every free-text field of the site's settings document (widget texts, per-scenario and per-keyword texts,
  the consent text, the privacy-policy link...) gets a payload naming its path; a field the settings refuse the
  payload for (a colour, a time zone, a URL pattern) keeps its value, and the settings must then refuse it.

Then every cabinet page (every GET rule of `portal.*`, filled with A's own objects) is opened by A, and every
back-office page (each view's list, details and edit form of A's rows, and the account and site pages) by the
administrator. No answer may carry a payload unescaped: no raw `<img src=x`, no `<script>alert`, no link or
attribute starting `javascript:`. The guard test checks the payloads really reach the pages, as text.
"""
from __future__ import annotations

import html
import json
import re
import typing

import pytest
import sqlalchemy as sa
from cabinet import test_isolation_sweep as isolation
from helpers import collection_app
from pydantic import BaseModel

IMG, SCRIPT, LINK = "<img src=x onerror=alert('{}')>", "\"><script>alert('{}')</script>", "javascript:alert('{}')"
UNESCAPED = re.compile(r"<img\s+src=x|<script>alert|(?:href|src|action|formaction)\s*=\s*[\"']?\s*javascript:alert",
                       re.IGNORECASE)

# Columns no client, manager or visitor types as free text: codes, numbers, hashes, enumerations, secrets.
STRUCTURED = {
    "client_code", "timezone", "locale", "role", "email", "password_hash", "kind", "key", "code", "status",
    "outcome", "channel", "frequency", "public_key", "number", "country", "phone", "provider", "provider_id",
    "provider_method_id", "idempotence_key", "ledger_key", "dedup_key", "status_token_hash", "ip", "mode", "scope",
    "inn", "kpp", "ogrn", "bik", "correspondent_account", "settlement_account", "last4", "expiry_month",
    "expiry_year", "card_type", "value", "table_name", "row_id", "action", "actor", "purpose", "destination",
    "sender", "provider_message_id", "confirmation_url", "recipient", "extension", "reject_reason",
    "body_html",  # an e-mail's HTML body, made by our templates (escaped there), shown in a sandboxed frame
}
# Poisoned texts no page shows (every other one must reach a page, else its escaping was not tested).
NEVER_SHOWN = {"sms_message.text": "an SMS the app composes; listed nowhere",
               "sms_message.last_error": "the SMS provider's error; listed nowhere"}


# JSON columns holding what a visitor's browser sent, stored as is: poisoned key by key.
VISITOR_JSON = {"callback_request.visitor": ("utm_source", "utm_term", "referrer", "title", "name")}


def payload(name: str, *, is_link: bool = False, limit: int | None = None) -> str:
    if is_link:
        return LINK.format(name)
    text = IMG.format(name) + SCRIPT.format(name)
    return text if limit is None or len(text) <= limit else IMG.format(name)[:limit]


# --------------------------------------------------------------------------------------------------------------
# Poisoning A's rows and settings, from the schema
# --------------------------------------------------------------------------------------------------------------

def text_columns(metadata) -> list[tuple[str, str, int | None]]:
    """(table, column, length) of every free-text column of a client's own rows."""
    found = []
    for table in metadata.sorted_tables:
        if table.name != "account" and "account_id" not in table.c:
            continue
        for column in table.c:
            if isinstance(column.type, sa.String) and not column.primary_key and not column.foreign_keys \
                    and column.name not in STRUCTURED:
                found.append((table.name, column.name, column.type.length))
    return found


def _poison_rows(world) -> dict[str, str]:
    from app.extensions import db

    def write():
        written = {}
        for table_name, column_name, length in text_columns(db.metadata):
            table = db.metadata.tables[table_name]
            owner = table.c.id if table_name == "account" else table.c.account_id
            name = f"{table_name}.{column_name}"
            value = payload(name, is_link=column_name.endswith("url"), limit=length)
            db.session.execute(sa.update(table).where(owner == world.accounts["a"]).values({column_name: value}))
            written[name] = value
        for name, keys in VISITOR_JSON.items():
            table_name, column_name = name.split(".")
            table = db.metadata.tables[table_name]
            document = {key: payload(f"{name}.{key}", is_link=key == "referrer") for key in keys}
            db.session.execute(sa.update(table).where(table.c.account_id == world.accounts["a"])
                               .values({column_name: document}))
            written.update({f"{name}.{key}": value for key, value in document.items()})
        db.session.commit()
        return written
    return world.run(write)


def _text_fields(model: type[BaseModel], path: str) -> dict:
    """Every str field of the settings model (nested, and one keyword rule), set to a payload naming it."""
    values = {}
    for name, field in model.model_fields.items():
        annotation, where = field.annotation, f"{path}.{name}"
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            values[name] = _text_fields(annotation, where)
        elif typing.get_origin(annotation) is list and args == [str]:
            values[name] = [payload(where)]
        elif annotation is str or args == [str]:
            values[name] = payload(where, is_link=name.endswith("url"), limit=_max_length(field))
        elif typing.get_origin(annotation) is list and args and isinstance(args[0], type) \
                and issubclass(args[0], BaseModel):
            values[name] = [_text_fields(args[0], f"{where}.0")]
    return values


def _max_length(field) -> int | None:
    return next((rule.max_length for rule in field.metadata if getattr(rule, "max_length", None)), None)


def _drop(values: dict, loc: tuple) -> None:
    *parents, last = loc
    for part in parents:
        values = values[part]
    values.pop(last, None)


def _poison_settings(world) -> dict:
    """Save the payloads into A's site settings; the fields the settings refuse are dropped (and listed)."""
    from app.extensions import db
    from app.services import site_settings

    values, refused = _text_fields(site_settings.SiteSettings, "settings"), []
    site_id = world.objects["a"]["site"]

    def save():
        while True:
            try:
                site_settings.save(world.accounts["a"], site_id, values)
                db.session.commit()
                return
            except site_settings.SettingsError as exc:
                db.session.rollback()
                for error in exc.errors:
                    refused.append(".".join(str(part) for part in error["loc"]))
                    _drop(values, tuple(error["loc"]))
    world.run(save)
    return {"written": dict(_leaves(values, "settings")), "refused": refused}


def _leaves(values, path: str):
    """(path, text) of every payload left in the settings values."""
    items = values.items() if isinstance(values, dict) else ((str(i), v) for i, v in enumerate(values))
    for key, value in items:
        if isinstance(value, str):
            yield f"{path}.{key}", value
        else:
            yield from _leaves(value, f"{path}.{key}")


world = isolation.world


@pytest.fixture(scope="module")
def poisoned(world):
    settings = _poison_settings(world)
    return {"written": {**_poison_rows(world), **settings["written"]}, "refused": settings["refused"]}


# --------------------------------------------------------------------------------------------------------------
# The pages
# --------------------------------------------------------------------------------------------------------------

def _cabinet_pages() -> list[str]:
    return [rule.rule for rule in isolation.RULES if "GET" in rule.methods]


def _admin_pages() -> list[tuple[str, str | None]]:
    """(rule, the table of a row it shows) of every back-office page taking GET."""
    with collection_app() as app:
        tables = {}
        for view in app.extensions["admin"][0]._views:
            model = getattr(view, "model", None)
            tables[view.endpoint] = model.__table__.name if model is not None else None
        return sorted({(rule.rule, tables.get(rule.endpoint.partition(".")[0]))
                       for rule in app.url_map.iter_rules()
                       if rule.rule.startswith("/admin") and "GET" in rule.methods
                       and not re.search(r"/(export|ajax|static)/", rule.rule)})


CABINET_PAGES = _cabinet_pages()
ADMIN_PAGES = _admin_pages()


def _cabinet_url(world, rule: str) -> str:
    return isolation.VARIABLE_RE.sub(lambda match: str(world.objects["a"][isolation.ARGUMENT_KINDS[match.group(1)]]),
                                     rule)


def _admin_url(world, rule: str, table: str | None) -> str:
    from app.extensions import db

    ids = {"account_id": world.accounts["a"], "site_id": world.objects["a"]["site"],
           "invoice_id": world.objects["a"]["invoice"], "key": "password_reset"}
    url = isolation.VARIABLE_RE.sub(lambda match: str(ids[match.group(1)]), rule)
    if table and re.search(r"/(details|edit)/$", rule):
        def first():
            found = db.metadata.tables[table]
            query = sa.select(sa.func.min(found.c.id))
            if "account_id" in found.c:
                query = query.where(found.c.account_id == world.accounts["a"])
            return db.session.execute(query).scalar()
        url += f"?id={world.run(first) or 1}"
    return url


def _check(response, who: str, url: str, written: dict[str, str]) -> set[str]:
    """Asserts the page carries no payload unescaped; returns the names of the payloads it shows as text."""
    assert response.status_code < 500, f"GET {url} as {who}: {response.status_code}"
    if response.mimetype != "text/html":  # a download (CSV, XLSX, PDF) is not rendered by the browser
        assert response.headers.get("Content-Disposition", "").startswith("attachment"), f"GET {url}: inline"
        return set()
    body = response.get_data(as_text=True)
    raw = sorted({body[max(0, m.start() - 40):m.end() + 40] for m in UNESCAPED.finditer(body)})
    assert not raw, f"GET {url} as {who} carries a payload unescaped: {raw[:3]}"
    text = html.unescape(body)
    return {name for name, value in written.items() if value in text or json.dumps(value)[1:-1] in text}


@pytest.mark.parametrize("rule", CABINET_PAGES)
def test_cabinet_pages_show_the_texts_escaped(world, poisoned, rule):
    url = _cabinet_url(world, rule)
    _check(world.clients["a"].get(url), "A", url, poisoned["written"])


@pytest.mark.parametrize("rule, table", ADMIN_PAGES, ids=[rule for rule, _ in ADMIN_PAGES])
def test_back_office_pages_show_the_texts_escaped(world, poisoned, rule, table):
    url = _admin_url(world, rule, table)
    _check(world.clients["admin"].get(url), "the administrator", url, poisoned["written"])


def test_the_payloads_reach_the_pages_as_text(world, poisoned):
    """Every poisoned text is shown, literally, by some page, so its escaping was really tested."""
    seen = set()
    for rule in CABINET_PAGES:
        url = _cabinet_url(world, rule)
        seen |= _check(world.clients["a"].get(url), "A", url, poisoned["written"])
    for rule, table in ADMIN_PAGES:
        url = _admin_url(world, rule, table)
        seen |= _check(world.clients["admin"].get(url), "the administrator", url, poisoned["written"])
    missing = sorted(set(poisoned["written"]) - seen - set(NEVER_SHOWN))
    assert not missing, f"no page showed the payloads of {missing}"
    assert "privacy_policy_url" in poisoned["refused"], \
        "the privacy-policy link took a javascript: URL"



@pytest.mark.parametrize("kind, outcome", [("missed_call", "manager_no_answer"), ("missed_call", "failed"),
                                           ("passive_request", None)])
def test_e_mails_about_a_request_show_the_texts_escaped(world, poisoned, kind, outcome):
    """The letters the dialer sends about a visitor's request (the site's name, the page), as it renders them."""
    from app.extensions import db
    from app.models import CallbackRequest, Site
    from app.services import outbox

    def render():
        request = db.session.scalars(sa.select(CallbackRequest).filter_by(account_id=world.accounts["a"])).first()
        site = db.session.get(Site, request.site_id)
        context = {"callback": request, "site": site, "outcome": outcome, "at": request.created_at}
        return outbox.queue_email(kind, "owner@alpha.example", context).body_html
    body = world.run(render)
    raw = sorted({body[max(0, m.start() - 40):m.end() + 40] for m in UNESCAPED.finditer(body)})
    assert not raw, f"the {kind} e-mail carries a payload unescaped: {raw[:3]}"
    shown = html.unescape(body)
    assert poisoned["written"]["site.name"] in shown and poisoned["written"]["callback_request.page_url"] in shown
