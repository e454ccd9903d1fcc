"""Every back-office page, opened by the administrator in Chromium at desktop width: no console errors, no
uncaught script errors, no horizontal overflow.

The pages are generated at collection time from the views a throwaway app registers with Flask-Admin: for a
model view its list, and its create, edit and details pages where the view allows them; for a plain view each
page it exposes (a page with a variable part, like one received e-mail, gets a real key from the seeded rows).
A new view is opened without editing this file; one whose URL needs a key this file cannot fill fails.
"""
from __future__ import annotations

import datetime as dt
import email.message
import mailbox
import re

import pytest
import sqlalchemy as sa
from helpers import collection_app
from money_rows import card_row, invoice_row, issued_invoice, payment_row, refund_row
from page_checks import CSP_WATCH_JS, csp_violations, overflow_problem
from request_rows import request_with_timeline

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@callback.example.com", "staff-pass-123"

# Known application bugs: fnmatch patterns over the page id; strict, so a fix makes the case fail until removed.
KNOWN_BUGS: dict[str, str] = {}


def _read_pages() -> list[tuple[str, str, str]]:
    """(endpoint, kind, URL template) of every page; `{id}` and `{<variable>}` are filled from the seeded rows."""
    from flask_admin.model import BaseModelView

    pages = []
    with collection_app() as app:
        for view in app.extensions["admin"][0]._views:
            if isinstance(view, BaseModelView):
                pages.append((view.endpoint, "list", f"{view.url}/"))
                if view.can_create:
                    pages.append((view.endpoint, "create", f"{view.url}/new/"))
                if view.can_edit:
                    pages.append((view.endpoint, "edit", f"{view.url}/edit/?id={{id}}"))
                if view.can_view_details:
                    pages.append((view.endpoint, "details", f"{view.url}/details/?id={{id}}"))
                continue
            for rule, name, methods in view._urls:
                if "GET" in methods:
                    template = view.url + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
                    pages.append((view.endpoint, name, template))
    return pages


PAGES = _read_pages()


@pytest.fixture
def seeded(app, make_client_user, make_staff_user):
    """The administrator, a client's account with one row of every kind, and one received e-mail.

    Returns {endpoint: {"id": row id, or another variable of that view's URLs}}.
    """
    from app.db import utcnow
    from app.extensions import db
    from app.models import (
        Account,
        AccountPermission,
        AuditLog,
        BlacklistEntry,
        Department,
        LedgerTransaction,
        ManagerLine,
        Notification,
        NumberBlock,
    )
    from app.services import notifications, sites

    make_staff_user("admin", ADMIN_EMAIL, ADMIN_PASSWORD)
    client_id, account_id, _, _ = make_client_user("client@acme.example.com")
    with app.app_context():
        account = db.session.get(Account, account_id)
        site = sites.create_site(account, "Acme shop", ["https://shop.acme.example.com", "https://acme.example.com"])
        department = Department(account=account, name="Sales")
        line = ManagerLine(account=account, kind="phone", country="RU", number="+79161234567", manager_name="Ivan",
                           department=department, is_for_all_sites=False, sites=[site])
        entry = BlacklistEntry(account=account, kind="number", value="+79167654321", note="spammer")
        global_entry = BlacklistEntry(account_id=None, kind="ip", value="198.51.100.7", note="bot")
        opening = AccountPermission(account=account, key="widget.design.edit", is_granted=True)
        block = NumberBlock(phone="+79165550011", reason="limit_number", created_at=utcnow(),
                            until=utcnow() + dt.timedelta(hours=24))
        account.dialing_paused_at = utcnow()  # the accounts list shows a pause by the spend cap
        db.session.add_all([department, line, entry, global_entry, opening, block])
        db.session.commit()
        rows = {"accounts": account.id, "users": client_id, "openings": opening.id, "sites": site.id,
                "lines": line.id, "departments": department.id, "blacklist": entry.id,
                "global_blacklist": global_entry.id, "number_blocks": block.id,
                "tariffs": 1, "tariff_versions": 1,  # the starting tariff of migration 0004
                "ledger": db.session.scalar(sa.select(LedgerTransaction.id)
                                            .where(LedgerTransaction.key == f"gift:{account.id}")),
                "audit": db.session.scalar(sa.select(sa.func.max(AuditLog.id)))}
        money = {"payments": payment_row(account_id), "payment_cards": card_row(account_id),
                 "refunds": refund_row(account_id), "invoices": invoice_row(account_id)}
        db.session.add_all(money.values())
        db.session.commit()
        rows.update({endpoint: row.id for endpoint, row in money.items()})
        rows["requests"] = request_with_timeline(account_id, site.id, line_id=line.id)
        rows["outbox"] = db.session.scalar(sa.select(sa.func.max(Notification.id)))
        db.session.commit()
        invoice_id = issued_invoice(account_id)
        # The account's notifications page shows a kind locked for it and a threshold of its own.
        notifications.set_admin_override(account_id, "spending", locked=True, enabled=True, frequency="weekly")
        notifications.set_low_balance_threshold_kop(account_id, 50_000)
        db.session.commit()
        db.session.remove()
    message = email.message.EmailMessage()
    message["Subject"], message["To"], message["From"] = "Welcome to CallBack", "client@acme.example.com", "noreply@x"
    message["Date"] = "Fri, 27 Nov 2026 09:00:00 +0000"
    message.set_content("Your client ID is ABC-DEFG.")
    message.add_alternative("<p>Your client ID is <b>ABC-DEFG</b>.</p>", subtype="html")
    key = mailbox.Maildir(app.config["MAIL_CATCHER_DIR"], create=True).add(message)
    # The variable parts of plain views' URLs (by name), and the row each model view's pages show.
    variables = {"account_id": rows["accounts"], "site_id": rows["sites"], "key": key, "invoice_id": invoice_id}
    return {**{endpoint: {"id": row_id, **variables} for endpoint, row_id in rows.items()}, "*": variables}


def _url(endpoint: str, template: str, seeded: dict) -> str:
    values = seeded.get(endpoint, seeded["*"])
    try:
        return template.format(**values)
    except KeyError as exc:
        raise AssertionError(f"{endpoint}: no seeded value for {exc} in {template}: add it to `seeded`") from None


def _log_in(page) -> None:
    """Log in through the log-in form's own request (the browser context keeps the cookie): the form itself
    is tested elsewhere, and rendering it for each of these pages would double the run time."""
    from helpers import csrf_token

    token = csrf_token(page.request.get("/login").text())
    response = page.request.post("/login", form={"csrf_token": token, "email": ADMIN_EMAIL,
                                                  "password": ADMIN_PASSWORD}, max_redirects=0)
    assert response.status == 302 and response.headers["location"].endswith("/admin/"), response.status





@pytest.fixture
def admin_page(page, seeded):
    """The administrator's Chromium tab at desktop width, collecting console errors and uncaught errors."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console.{message.type}: {message.text} "
                                                       f"({message.location.get('url', '')})")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.add_init_script(CSP_WATCH_JS)
    page.set_viewport_size(DESKTOP)
    _log_in(page)
    problems.clear()  # only what the back-office page itself logs
    return page, problems


@pytest.fixture(autouse=True)
def known_bug(request):
    import fnmatch

    callspec = getattr(request.node, "callspec", None)
    for pattern, reason in KNOWN_BUGS.items():
        if callspec is not None and fnmatch.fnmatchcase(callspec.id, pattern):
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("endpoint, kind, template", [pytest.param(*p, id=f"{p[0]}-{p[1]}") for p in PAGES])
def test_backoffice_page_has_no_errors_and_fits_the_desktop(admin_page, seeded, endpoint, kind, template):
    page, problems = admin_page
    url = _url(endpoint, template, seeded)
    response = page.goto(url)  # waits for "load": every script of the page has run
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    # A page may lead on to another back-office page (then that one is checked), never to the log-in.
    assert "/admin/" in page.url and "/login" not in page.url, f"{url}: ended on {page.url}"
    assert page.locator("body").inner_text().strip(), f"{url}: an empty page"
    if problems:
        problems += csp_violations(page)
    if too_wide := overflow_problem(page):
        problems.append(too_wide)
    assert not problems, f"{url}:\n" + "\n".join(problems)


def test_every_known_bug_names_a_page():
    import fnmatch

    ids = {f"{endpoint}-{kind}" for endpoint, kind, _ in PAGES}
    for pattern in KNOWN_BUGS:
        assert fnmatch.filter(ids, pattern), f"KNOWN_BUGS: {pattern!r} names no page any more: remove it"


def test_every_kind_of_page_is_opened():
    kinds = {(endpoint, kind) for endpoint, kind, _ in PAGES}
    model_views = {endpoint for endpoint, kind, _ in PAGES if kind == "list"}
    assert len(model_views) >= 10 and {("admin", "index"), ("mailbox", "index"), ("mailbox", "show")} <= kinds
    assert all((endpoint, "details") in kinds for endpoint in model_views)
