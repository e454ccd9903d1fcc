"""CSRF on every state-changing request (issue 10, item 2), generated from the app's URL map.

Every rule that takes POST, PUT, PATCH or DELETE is swept, so a route added later is covered without editing
this file: the cabinet (`portal.*`), log-in and account pages (`auth.*`, `site.*`, `notifications.*`), every
back-office page and every Flask-Admin view's create, edit, delete, action and inline-edit endpoints. Each is
posted by a user of the kind that uses it (a client for the cabinet, the administrator for the back office, a
stranger for log-in, sign-up and the links mailed out), its URL filled with that user's own real objects (the
isolation sweep's two accounts), once without a token, once with a malformed one and once with a real token of
another session. Each must be refused by the CSRF check (400, the refusal logged by Flask-WTF) and leave every
row of every table as it was.

A rule may skip the check only if it is in EXEMPT with the reason it is authenticated otherwise; a rule that
neither refuses nor is listed fails its case, naming the rule.

Runs on SQLite only: what is checked is whether the request reaches the view, not how a database stores it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import re

import pytest
import sqlalchemy as sa
from cabinet import test_isolation_sweep as isolation
from helpers import collection_app

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# Endpoints that take requests from outside a browser session, and what authenticates them instead.
EXEMPT = {
    "api.create_callback": "the public widget API: a site key, the site's allowed origins (CORS) and the limiter; "
                           "no cookie session is read, so a forged cross-site request gains nothing",
    "api.widget_events_batch": "the public widget API's statistics beacon: site key and allowed origins",
    "hooks.mtt_event": "the telephony provider's webhook: the secret event token in the URL",
    "hooks.yookassa": "the payment webhook: YooKassa's network ranges and a re-fetch of the payment by its id",
}
# Endpoints outside the cabinet and back office posted by someone not logged in.
ANONYMOUS = {"auth.login", "auth.signup", "auth.request_reset", "auth.reset_password", "notifications.unsubscribe"}
CSRF_LOGGER = "flask_wtf.csrf"

# Flask-Admin's model-view endpoints and the form fields naming the row each acts on (`id` goes in the query
# string for the edit form, as Flask-Admin's own links put it).
ADMIN_ROW_FIELDS = {"edit_view": "query", "delete_view": "id", "action_view": "rowid", "ajax_update": "list_form_pk"}


@dataclasses.dataclass(frozen=True)
class Rule:
    rule: str
    endpoint: str
    method: str
    arguments: tuple[str, ...]
    table: str | None  # a Flask-Admin model view's table
    action: str | None  # its first action, for action_view


def _admin_views(app) -> dict[str, tuple[str, str | None]]:
    """Flask-Admin view endpoint -> (its model's table, its first action)."""
    found = {}
    with app.test_request_context("/admin/"):
        for view in app.extensions["admin"][0]._views:
            model = getattr(view, "model", None)
            if model is not None:
                actions = [name for name, _ in getattr(view, "_actions", [])]
                found[view.endpoint] = (model.__table__.name, actions[0] if actions else None)
    return found


def _read_rules() -> list[Rule]:
    with collection_app() as app:
        views = _admin_views(app)
        rules = []
        for rule in app.url_map.iter_rules():
            blueprint = rule.endpoint.partition(".")[0]
            table, action = views.get(blueprint, (None, None))
            for method in sorted(rule.methods & STATE_CHANGING):
                rules.append(Rule(rule.rule, rule.endpoint, method, tuple(isolation.VARIABLE_RE.findall(rule.rule)),
                                  table, action))
        return sorted(rules, key=lambda r: (r.rule, r.method))


RULES = _read_rules()
SWEPT = [rule for rule in RULES if rule.endpoint not in EXEMPT]


def _who(rule: Rule) -> str:
    if rule.rule.startswith("/admin"):
        return "admin"
    return "anonymous" if rule.endpoint in ANONYMOUS else "a"


# --------------------------------------------------------------------------------------------------------------
# The isolation sweep's two accounts (A's objects fill the URLs), the administrator and a stranger
# --------------------------------------------------------------------------------------------------------------

world = isolation.world


def _token_for(world, rule: Rule) -> str:
    """A real token for a `<token>` part: a password-reset link for A's owner, an unsubscribe link of A's."""
    from app.models import User
    from app.services import accounts, notifications

    if rule.endpoint == "auth.reset_password":
        user = world.run(lambda: User.query.filter_by(account_id=world.accounts["a"]).first())
        return world.run(lambda: accounts._reset_serializer().dumps(
            {"uid": user.id, "fp": accounts._hash_fingerprint(user)}))
    if rule.endpoint == "notifications.unsubscribe":
        kind = next(key for key, kind in notifications.CATALOGUE.items() if kind.is_switchable)
        return world.run(notifications.unsubscribe_token, world.accounts["a"], kind)
    raise AssertionError(f"{rule.rule} ({rule.endpoint}): the sweep cannot make a <token> for it: add it")


def _value(world, rule: Rule, name: str) -> str:
    own = world.objects["a"]
    if name in isolation.ARGUMENT_KINDS:
        return str(own[isolation.ARGUMENT_KINDS[name]])
    if name == "account_id":
        return str(world.accounts["a"])
    if name == "code":
        return "en"
    if name == "token":
        return _token_for(world, rule)
    raise AssertionError(f"{rule.rule} ({rule.endpoint}): the sweep does not know what <{name}> names: "
                         "map it in _value")


def _first_row(world, table: str) -> int:
    from app.extensions import db

    def read():
        found = db.metadata.tables[table]
        return db.session.execute(sa.select(sa.func.min(*found.primary_key.columns))).scalar() or 1
    return world.run(read)


def _request(world, rule: Rule) -> tuple[str, dict]:
    """The URL (filled with A's own objects) and the form a browser would post, less the token."""
    url = isolation.VARIABLE_RE.sub(lambda match: _value(world, rule, match.group(1)), rule.rule)
    operation = rule.endpoint.partition(".")[2]
    data: dict = {}
    if rule.table and operation in ADMIN_ROW_FIELDS:
        row = _first_row(world, rule.table)
        field = ADMIN_ROW_FIELDS[operation]
        if field == "query":
            url += f"?id={row}"
        else:
            data[field] = str(row)
        if operation == "action_view" and rule.action:
            data["action"] = rule.action
    return url, data


def database_fingerprint(world) -> dict[str, tuple[int, str]]:
    """Every table of the app: (its row count, a hash of all its rows in key order)."""
    from app.extensions import db

    def read():
        found = {}
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            found[table.name] = (len(rows), hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest())
        return found
    return world.run(read)


def _wrong_tokens(world, who: str) -> dict[str, str | None]:
    other = "b" if who != "b" else "a"
    return {"no token": None, "a malformed token": "not-a-token", "another session's token": world.tokens[other]}


# --------------------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token_case", ["no token", "a malformed token", "another session's token"])
@pytest.mark.parametrize("rule", SWEPT, ids=[f"{rule.method} {rule.rule}" for rule in SWEPT])
def test_a_state_changing_request_without_a_valid_token_is_refused(world, rule, token_case, caplog):
    who = _who(rule)
    url, data = _request(world, rule)
    token = _wrong_tokens(world, who)[token_case]
    if token is not None:
        data["csrf_token"] = token
    before = database_fingerprint(world)
    with caplog.at_level(logging.INFO, logger=CSRF_LOGGER):
        response = world.clients[who].open(url, method=rule.method, data=data)
    refused_by_csrf = [record for record in caplog.records if record.name == CSRF_LOGGER]
    changed = sorted(name for name, state in database_fingerprint(world).items() if before[name] != state)
    assert not changed, f"{rule.method} {url} ({rule.endpoint}) as {who} with {token_case} changed {changed}"
    assert response.status_code in (400, 403) and refused_by_csrf, (
        f"{rule.method} {url} ({rule.endpoint}) as {who} with {token_case}: {response.status_code} "
        f"{response.headers.get('Location', '')}: not refused by the CSRF check; protect it, or list it in EXEMPT "
        "with what authenticates it instead")


@pytest.mark.parametrize("endpoint", sorted(EXEMPT))
def test_exempt_endpoints_exist_and_take_no_cookie_session(endpoint):
    """A stale entry would exempt nothing (or, renamed, a new route): each must be a live, non-browser endpoint."""
    assert endpoint in {rule.endpoint for rule in RULES}, f"EXEMPT names {endpoint}, which takes no POST any more"
    assert re.match(r"^(api|hooks)\.", endpoint), f"{endpoint} is exempt but is not under /api or /hooks"


def test_the_sweep_covers_every_kind_of_state_changing_page(world):
    live = {(rule.rule, method) for rule in world.app.url_map.iter_rules()
            for method in rule.methods & STATE_CHANGING}
    assert live == {(rule.rule, rule.method) for rule in RULES}, "the collection-time app and the test app disagree"
    endpoints = {rule.endpoint for rule in SWEPT}
    for expected in ("portal.line_delete", "portal.site_settings_page", "auth.login", "auth.logout",
                     "site.set_language", "users.delete_view", "sites.edit_view", "requests.action_view",
                     "site_settings.site", "global_settings.index"):
        assert expected in endpoints
    assert any(rule.action for rule in SWEPT), "no Flask-Admin action was swept"
