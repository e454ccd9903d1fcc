"""Tenant isolation on every cabinet URL and export (issue 9: "tenant isolation on every cabinet URL and export").

The cases are generated at collection time from the app's URL map: every rule whose endpoint starts with
`portal.`, so a cabinet page or export added later is swept without editing this file. Two client accounts,
A and B, each have a site, a department, a manager line, a blacklist entry, requests, a payment, a saved card
and an invoice; every feature a manager may open is opened to both. B's rows carry marker strings (its company,
site, manager, numbers...) that must never reach A.

* A rule with variable parts (`<int:site_id>`...), for A: first filled with a fresh object of A's own, which
  must be reached (no 401/403/404, no log-in), so the feature is open and the ids mean what this file thinks;
  then with B's objects, which must answer 404 or 403, show none of B's markers and change none of B's rows.
  A rule taking POST is posted too (with the session's CSRF token). A variable this file cannot map to a kind
  of object fails its case, naming the rule: map it in ARGUMENT_KINDS.
* A rule without variable parts (a list page, an export), for A: plainly and with each id-taking query
  parameter (`site=`, `line=`...) set to B's object: 404/403, or an answer without B's markers.
* Every rule: a stranger is sent to log in (or gets 401/403); staff are sent to the back office.

Runs on SQLite only: what is checked is who may reach which row, not how a database reads it.
"""
from __future__ import annotations

import dataclasses
import html
import io
import itertools
import os
import re
import zipfile
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import sqlalchemy as sa
from helpers import collection_app, csrf_token, fresh_database_url
from money_rows import card_row, issued_invoice, payment_row
from request_rows import request_row

from dialer.sandbox.yookassa import FakeYooKassa

PASSWORD = "isolation-pass-123"
VARIABLE_RE = re.compile(r"<(?:[^:<>]+:)?(\w+)>")

# The variable parts of cabinet URLs and the kind of object each names. A new name fails its rule's case.
ARGUMENT_KINDS = {
    "site_id": "site", "line_id": "line", "manager_line_id": "line", "department_id": "department",
    "entry_id": "blacklist", "blacklist_id": "blacklist", "card_id": "card", "payment_id": "payment",
    "invoice_id": "invoice", "request_id": "request",
}
# Query-string parameters that take an object's id on list pages and exports.
QUERY_KINDS = {"site": "site", "site_id": "site", "line": "line", "line_id": "line", "manager": "line",
               "department": "department"}
# Other query strings that change what a list page answers (an export of it).
EXTRA_QUERIES = {"portal.billing_statement": ["format=csv"]}


@dataclasses.dataclass(frozen=True)
class Rule:
    rule: str
    endpoint: str
    methods: tuple[str, ...]
    arguments: tuple[str, ...]  # in the order they appear in the rule

    @property
    def post_only(self) -> bool:
        return "GET" not in self.methods


def _read_rules() -> list[Rule]:
    with collection_app() as app:
        return sorted((Rule(rule.rule, rule.endpoint, tuple(sorted(rule.methods - {"HEAD", "OPTIONS"})),
                            tuple(VARIABLE_RE.findall(rule.rule)))
                       for rule in app.url_map.iter_rules() if rule.endpoint.startswith("portal.")),
                      key=lambda rule: rule.rule)


RULES = _read_rules()
WITH_ARGUMENTS = [rule for rule in RULES if rule.arguments]
LISTS = [rule for rule in RULES if not rule.arguments and "GET" in rule.methods]


def _object_cases():
    for rule in WITH_ARGUMENTS:
        for method in rule.methods:
            yield pytest.param(rule, method, id=f"{method} {rule.rule}")


def _query_cases():
    for rule in LISTS:
        yield pytest.param(rule, "", id=f"{rule.rule}")
        for query in EXTRA_QUERIES.get(rule.endpoint, []):
            yield pytest.param(rule, query, id=f"{rule.rule}?{query}")
        for name in QUERY_KINDS:
            yield pytest.param(rule, name, id=f"{rule.rule}?{name}=B")


def _every_rule():
    for rule in RULES:
        method = "POST" if rule.post_only else "GET"
        yield pytest.param(rule, method, id=f"{method} {rule.rule}")


# --------------------------------------------------------------------------------------------------------------
# Two accounts and their rows
# --------------------------------------------------------------------------------------------------------------

# B's rows: what they are called, and how each may be shown (numbers in any grouping).
B_NAMES = {"company": "Zebra Secret Trading", "site": "Zebra hidden shop", "domain": "zebra-hidden.example",
           "manager": "Zinaida Zebrova", "department": "Zebra department", "line": "+79167770011",
           "blacklist": "+79168880022", "blacklist_note": "zebra spammer", "phone": "+79035554433",
           "keyword": "zebra keyword", "card": "Zebra card *9731", "email": "owner@zebra.example"}
_numbers = itertools.count(1)


def _number_re(e164: str) -> str:
    """+79167770011 as any display writes it: +7 916 777-00-11, 8 (916) 777 00 11, 79167770011..."""
    digits = e164.removeprefix("+7")
    return r"\D{0,3}".join([re.escape(digits[:3]), digits[3:6], digits[6:8], digits[8:]])


def _create(kind: str, account_id: int, names: dict) -> int:
    """A new object of `kind` for the account, committed; inside an app context."""
    from app.extensions import db
    from app.models import Account, BlacklistEntry, Department, ManagerLine
    from app.services import sites

    n = next(_numbers)
    account = db.session.get(Account, account_id)
    if kind == "site":
        row = sites.create_site(account, names.get("site", f"Own shop {n}"),
                                [f"https://{names.get('domain', f'own{n}.example')}"])
    elif kind == "department":
        row = Department(account_id=account_id, name=names.get("department", f"Own department {n}"))
    elif kind == "line":
        row = ManagerLine(account_id=account_id, number=names.get("line", f"+7916555{n:04d}"),
                          manager_name=names.get("manager", f"Own manager {n}"))
    elif kind == "blacklist":
        row = BlacklistEntry(account_id=account_id, kind="number", value=names.get("blacklist", f"+7916444{n:04d}"),
                             note=names.get("blacklist_note", f"own note {n}"))
    elif kind == "card":
        row = card_row(account_id)
        row.title, row.last4 = names.get("card", f"Own card *{n:04d}"), names.get("card", f"{n:04d}")[-4:]
    elif kind == "payment":
        row = payment_row(account_id)
        row.method_title = names.get("card", f"Own card *{n:04d}")
    elif kind == "invoice":
        return issued_invoice(account_id)
    elif kind == "request":
        site_id = account.sites[0].id if account.sites else _create("site", account_id, names)
        row = request_row(account_id, site_id, phone=names.get("phone", f"+7999333{n:04d}"),
                          keyword=names.get("keyword", "own keyword"), status="completed", outcome="success")
    else:
        raise AssertionError(f"no factory for objects of kind {kind!r}")
    db.session.add(row)
    db.session.commit()
    return row.id


KINDS = ("site", "department", "line", "blacklist", "card", "payment", "invoice", "request")


def _account(email: str, company: str, names: dict) -> tuple[int, dict]:
    """A client account with every openable feature opened and one object of every kind: (id, {kind: id})."""
    from app.extensions import db
    from app.services import accounts, permissions

    user = accounts.signup(email, PASSWORD, company)
    account_id = user.account_id
    for key in permissions.openable_keys():
        permissions.set_account_permission(account_id, key, True)
    db.session.commit()
    objects = {kind: _create(kind, account_id, names) for kind in KINDS}
    for outcome in ("success", "manager_no_answer", "client_no_answer"):  # requests the log and stats show
        db.session.add(request_row(account_id, objects["site"], phone=names.get("phone", "+79993330000"),
                                   keyword=names.get("keyword", "own keyword"), source="yandex",
                                   page_url=f"https://{names.get('domain', 'own.example')}/page",
                                   status="completed", outcome=outcome, answered_line_id=objects["line"],
                                   duration_s=42 if outcome == "success" else None))
    db.session.commit()
    return account_id, objects


def _markers(app, account_id: int, objects: dict) -> dict[str, str]:
    """What of B's may never reach A, as regular expressions."""
    from app.extensions import db
    from app.models import Account, Invoice

    with app.app_context():
        account = db.session.get(Account, account_id)
        found = {"client code": re.escape(account.client_code),
                 "invoice number": re.escape(db.session.get(Invoice, objects["invoice"]).number)}
        db.session.remove()
    for name in ("company", "site", "domain", "manager", "department", "blacklist_note", "keyword", "card",
                 "email"):
        found[name] = re.escape(B_NAMES[name])
    for name in ("line", "blacklist", "phone"):
        found[f"{name} number"] = _number_re(B_NAMES[name])
    return found


@dataclasses.dataclass
class World:
    app: object
    clients: dict  # "a", "b", "anonymous", "manager", "admin" -> a logged-in test client
    tokens: dict  # the same -> the session's CSRF token
    accounts: dict  # "a", "b" -> account id
    objects: dict  # "a", "b" -> {kind: id}
    markers: dict  # B's marker name -> regular expression

    def run(self, fn, *args):
        from app.extensions import db

        with self.app.app_context():
            try:
                return fn(*args)
            finally:
                db.session.remove()

    def snapshot_of_b(self) -> dict:
        """Every row of B's account: the account, and each row of a table with an `account_id` column."""
        from app.extensions import db

        def read():
            b = self.accounts["b"]
            state = {"account": db.session.execute(sa.text("SELECT * FROM account WHERE id = :id"), {"id": b}).all()}
            for table in db.metadata.sorted_tables:
                if "account_id" in table.c:
                    state[table.name] = [tuple(row) for row in db.session.execute(
                        sa.select(table).where(table.c.account_id == b).order_by(*table.primary_key.columns))]
            return state
        return self.run(read)


def _log_in(client, email: str | None) -> str:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    if email:
        response = client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
        assert response.status_code == 302, f"{email} could not log in"
    return token


@pytest.fixture(scope="module")
def world(request, smtp_service, tmp_path_factory):
    from app import create_app
    from app.extensions import db
    from app.services import accounts

    tmp = tmp_path_factory.mktemp("isolation-sweep")
    fake = FakeYooKassa("isolation-shop", "test_isolation").start()
    request.addfinalizer(fake.stop)
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": fresh_database_url("sqlite", tmp, request),
        "INSTANCE_PATH": str(tmp), "SECRET_KEY": "test-secret", "HUEY_IMMEDIATE": True,
        "HUEY_SQLITE_PATH": f"{tmp}/huey.sqlite", "DIALER_DIAL_ON_CREATE": False, "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_service.port, "MAIL_TIMEOUT": 5, "RATELIMIT_STORAGE_URI": "memory://",
        "WIDGET_CONFIG_CACHE_S": 0, "MAIL_CATCHER_DIR": os.path.join(tmp, "maildir"),
        "YOOKASSA_API_URL": fake.api_url, "YOOKASSA_SHOP_ID": fake.shop_id, "YOOKASSA_SECRET_KEY": fake.secret_key})
    with app.app_context():
        a_id, a_objects = _account("owner@alpha.example", "Alpha Open Trading", {})
        b_id, b_objects = _account(B_NAMES["email"], B_NAMES["company"], B_NAMES)
        for role in ("manager", "admin"):
            accounts.create_user(f"{role}@callback.example.com", PASSWORD, role)
        db.session.commit()
        db.session.remove()
    users = {"a": "owner@alpha.example", "b": B_NAMES["email"], "anonymous": None,
             "manager": "manager@callback.example.com", "admin": "admin@callback.example.com"}
    clients = {who: app.test_client() for who in users}
    tokens = {who: _log_in(clients[who], email) for who, email in users.items()}
    yield World(app=app, clients=clients, tokens=tokens, accounts={"a": a_id, "b": b_id},
                objects={"a": a_objects, "b": b_objects}, markers=_markers(app, b_id, b_objects))
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------------------------------------------
# Asking and reading the answers
# --------------------------------------------------------------------------------------------------------------

def _fill(rule: Rule, ids: dict[str, int]) -> str:
    unmapped = [name for name in rule.arguments if name not in ARGUMENT_KINDS]
    assert not unmapped, (f"{rule.rule} ({rule.endpoint}): the sweep does not know what <{unmapped[0]}> names: "
                          f"map it to a kind of object in ARGUMENT_KINDS")
    return VARIABLE_RE.sub(lambda match: str(ids[ARGUMENT_KINDS[match.group(1)]]), rule.rule)


def _ask(world: World, who: str, method: str, url: str):
    client = world.clients[who]
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": world.tokens[who]})


def body_text(response) -> str:
    """What a person would read in the answer: HTML or CSV as text, an XLSX's sheets, a PDF's text."""
    data = response.get_data()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "\n".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    if data.startswith(b"%PDF"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return html.unescape(data.decode("utf-8", "replace"))


def leaked(world: World, response) -> list[str]:
    text = body_text(response)
    return [name for name, pattern in world.markers.items() if re.search(pattern, text)]


def _location(response) -> str:
    return urlparse(response.headers.get("Location", "")).path


def _reached(response) -> bool:
    """The view answered for the object (anything but a refusal, a log-in or a crash)."""
    return response.status_code < 500 and response.status_code not in (401, 403, 404) \
        and _location(response) != "/login"


# --------------------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, method", list(_object_cases()))
def test_another_accounts_objects_are_not_found(world, rule, method):
    own = world.run(lambda: {kind: _create(kind, world.accounts["a"], {}) for kind in KINDS})
    own_url, foreign_url = _fill(rule, own), _fill(rule, world.objects["b"])
    if method == "GET" or rule.post_only:  # an own GET+POST rule is not posted: it would act on A's object
        response = _ask(world, "a", method, own_url)
        assert _reached(response), (f"{method} {own_url} (A's own objects) as A: {response.status_code} "
                                    f"{response.headers.get('Location', '')}: the control case must be reached")
    before = world.snapshot_of_b()
    response = _ask(world, "a", method, foreign_url)
    assert response.status_code in (403, 404), f"{method} {foreign_url} (B's objects) as A: {response.status_code}"
    assert not leaked(world, response), f"{method} {foreign_url} as A shows B's {leaked(world, response)}"
    assert world.snapshot_of_b() == before, f"{method} {foreign_url} as A changed B's rows"


@pytest.mark.parametrize("rule, query", list(_query_cases()))
def test_lists_and_exports_show_only_the_accounts_own_rows(world, rule, query):
    if query in QUERY_KINDS:
        query = urlencode({query: world.objects["b"][QUERY_KINDS[query]]})
    url = f"{rule.rule}?{query}" if query else rule.rule
    response = world.clients["a"].get(url)
    assert response.status_code < 500, f"GET {url} as A: {response.status_code}"
    assert not leaked(world, response), f"GET {url} as A: {response.status_code}, shows B's {leaked(world, response)}"
    if not query:  # plainly, A's own list opens
        assert response.status_code in (200, 302, 303), f"GET {url} as A: {response.status_code}"
        assert _location(response) != "/login", f"GET {url} as A: sent to log in"


@pytest.mark.parametrize("rule, method", list(_every_rule()))
def test_strangers_are_sent_to_log_in(world, rule, method):
    url = _fill(rule, world.objects["b"])
    response = _ask(world, "anonymous", method, url)
    assert (response.status_code in (302, 303) and _location(response) == "/login") \
        or response.status_code in (401, 403), f"{method} {url} as a stranger: {response.status_code}"
    if method == "GET" and response.status_code in (302, 303):  # after logging in, the page asked for
        next_url = parse_qs(urlparse(response.headers["Location"]).query).get("next", [""])[0]
        assert next_url.startswith(urlparse(url).path), f"GET {url}: the log-in does not come back: {next_url!r}"
    assert not leaked(world, response)


@pytest.mark.parametrize("role", ["manager", "admin"])
@pytest.mark.parametrize("rule, method", list(_every_rule()))
def test_staff_are_sent_to_the_back_office(world, rule, method, role):
    url = _fill(rule, world.objects["b"])
    response = _ask(world, role, method, url)
    assert response.status_code in (302, 303) and _location(response).startswith("/admin"), \
        f"{method} {url} as {role}: {response.status_code} {response.headers.get('Location', '')}"
    assert not leaked(world, response)


# --------------------------------------------------------------------------------------------------------------
# Guards: the markers are real, the sweep sees what the app registers
# --------------------------------------------------------------------------------------------------------------

def test_b_sees_its_own_markers(world):
    """The markers are what the cabinet shows B (else their absence from A's answers would prove nothing)."""
    seen = set()
    for rule in LISTS:
        seen.update(leaked(world, world.clients["b"].get(rule.rule)))
    for rule in WITH_ARGUMENTS:
        if "GET" in rule.methods and all(name in ARGUMENT_KINDS for name in rule.arguments):
            seen.update(leaked(world, world.clients["b"].get(_fill(rule, world.objects["b"]))))
    assert set(world.markers) <= seen, f"B's own pages do not show {sorted(set(world.markers) - seen)}"


def test_the_sweep_covers_the_apps_cabinet_rules(world):
    live = {rule.rule for rule in world.app.url_map.iter_rules() if rule.endpoint.startswith("portal.")}
    assert live == {rule.rule for rule in RULES}, "the collection-time app and the test app disagree"
    assert {"/cabinet/", "/cabinet/calls", "/cabinet/calls.csv", "/cabinet/stats"} <= live
    assert len(WITH_ARGUMENTS) >= 5 and len(LISTS) >= 10
