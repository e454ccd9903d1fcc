"""The cabinet's call log (issue 9 part 2, C3, C7): filters, sorts, keyset pages, the CSV and XLSX exports equal to
the filtered view, tenant isolation, the `stats.view` feature and the blocked state (B4)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from helpers import login, set_global_setting
from request_rows import request_row

from app.db import utcnow
from app.extensions import db
from app.models import Account, ManagerLine
from app.models.callback import RequestStatus
from app.portal.calls import STATUSES
from app.services import call_log, sites
from app.services.permissions import CLIENT_DEFAULTS

VVO = ZoneInfo("Asia/Vladivostok")  # UTC+10
BASE = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
ROW_RE = re.compile(r'data-request-id="(\d+)"')
NEXT_RE = re.compile(r'href="([^"]+)" data-testid="next-page"')


@pytest.fixture
def shops(app, make_client_user):
    """Two logged-in clients (pages in English, Vladivostok time), each with two sites and a manager line:
    {name: {"client", "account", "sites": [id, id], "line": id}}."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            account = db.session.get(Account, account_id)
            account.locale, account.timezone = "en", "Asia/Vladivostok"
            site_ids = [sites.create_site(account, f"{name} {n}", [f"https://{name}{n}.example"]).id for n in (1, 2)]
            line = ManagerLine(account_id=account_id, number="+79161234567", manager_name=f"{name} Ivan")
            db.session.add(line)
            db.session.commit()
            line_id = line.id
        client = app.test_client()
        login(client, email, password)
        out[name] = {"client": client, "account": account_id, "sites": site_ids, "line": line_id}
    return out


def add(app, account_id, site_id, created_at, phone="+79995550000", **fields) -> int:
    with app.app_context():
        ip = fields.pop("ip", "10.0.0.1")
        row = request_row(account_id, site_id, phone=phone, created_at=created_at, **fields)
        row.ip = ip
        db.session.add(row)
        db.session.commit()
        return row.id


def ids_of(html: str) -> list[int]:
    return [int(found) for found in ROW_RE.findall(html)]


def walk(client, url: str) -> list[int]:
    """Every row id of the log, following the next-page links from `url`."""
    seen = []
    while url:
        page = client.get(url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        seen += ids_of(html)
        found = NEXT_RE.search(html)
        url = found.group(1).replace("&amp;", "&") if found else None
    return seen


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.response)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def test_the_log_shows_the_columns_in_the_accounts_zone(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE, page_url="https://alpha1.example/prices", source="yandex",
        keyword="buy a sofa", status="completed", outcome="success", duration_s=42,
        answered_line_id=alpha["line"], ip="203.0.113.7", region="Primorsky Krai")
    html = alpha["client"].get("/cabinet/calls").get_data(as_text=True)
    for text in ("2026-03-10 22:00:00", "alpha 1", 'href="https://alpha1.example/prices"', "yandex", "buy a sofa",
                 "+7 999 555-00-00", "alpha Ivan", "+7 916 123-45-67", ">42<", "203.0.113.7", "Primorsky Krai",
                 "Completed: Talked", "Asia/Vladivostok"):
        assert text in html, text


def test_a_page_url_that_is_not_http_is_not_a_link(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE, page_url="javascript:alert(1)")
    html = alpha["client"].get("/cabinet/calls").get_data(as_text=True)
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html


@pytest.mark.backends
def test_filters(app, shops):
    alpha = shops["alpha"]
    account, (site1, site2), line = alpha["account"], alpha["sites"], alpha["line"]
    late = add(app, account, site1, dt.datetime(2026, 3, 10, 23, 30, tzinfo=VVO), phone="+79995550001")
    next_day = add(app, account, site1, dt.datetime(2026, 3, 11, 0, 30, tzinfo=VVO), phone="+79995550002")
    other_site = add(app, account, site2, BASE, phone="+79161112233", source="google", status="completed",
                     outcome="client_no_answer")
    answered = add(app, account, site2, BASE - dt.timedelta(days=3), phone="+79995559999", status="completed",
                   outcome="success", answered_line_id=line, source="yandex")
    rejected = add(app, account, site1, BASE - dt.timedelta(days=5), phone="+79995550003", status="rejected")
    client = alpha["client"]

    def shown(query: str) -> set[int]:
        return set(ids_of(client.get(f"/cabinet/calls?{query}").get_data(as_text=True)))

    assert shown("") == {late, next_day, other_site, answered, rejected}
    # local days in the account's zone, both ends included: 23:30 on the 10th is the 10th, 00:30 the 11th
    assert shown("from=2026-03-10&to=2026-03-10") == {late, other_site}
    assert shown("from=2026-03-11") == {next_day}
    assert shown("to=2026-03-09") == {answered, rejected}
    assert shown(f"site={site2}") == {other_site, answered}
    assert shown("status=rejected") == {rejected}
    assert shown("outcome=success") == {answered}
    assert shown("outcome=client_no_answer") == {other_site}
    assert shown("source=yandex") == {answered}
    assert shown(f"line={line}") == {answered}
    assert shown("number=8 999 555-99") == {answered}  # typed with the Russian 8, spaces and a dash
    assert shown("number=89995559999") == {answered}
    assert shown("number=%2B7 (916) 111") == {other_site}
    assert shown("number=8 916") == {other_site}
    assert shown("number=5550") == {late, next_day, rejected}
    assert shown(f"site={site1}&status=received&number=55500") == {late, next_day}
    assert shown("status=bogus&outcome=bogus") == shown("")  # unknown values are ignored, not errors


@pytest.mark.backends
def test_keyset_pages_with_equal_times_have_no_duplicates_and_no_gaps(app, shops, monkeypatch):
    alpha = shops["alpha"]
    same = [add(app, alpha["account"], alpha["sites"][i % 2], BASE) for i in range(7)]
    older = [add(app, alpha["account"], alpha["sites"][0], BASE - dt.timedelta(seconds=s)) for s in (1, 1, 2)]
    newer = add(app, alpha["account"], alpha["sites"][1], BASE + dt.timedelta(seconds=1))
    expected = [newer, *sorted(same, reverse=True), older[1], older[0], older[2]]  # time, then id, descending

    with app.app_context():  # the service, page by page
        for size in (1, 2, 3, 4, 7, 11, 50):
            cursor, seen = None, []
            while True:
                current = call_log.page(alpha["account"], "UTC", call_log.Filters(), cursor, size=size)
                seen += [row.id for row in current.rows]
                if current.next_cursor is None:
                    break
                cursor = current.next_cursor
            assert seen == expected, size
        assert [row.id for row in call_log.iter_rows(alpha["account"], "UTC", call_log.Filters(), batch=3)] == expected

    monkeypatch.setattr(call_log, "PAGE_SIZE", 3)  # the page, following its next-page links
    assert walk(alpha["client"], "/cabinet/calls") == expected
    site1 = alpha["sites"][0]
    assert walk(alpha["client"], f"/cabinet/calls?site={site1}") == [i for i in expected if i in same[0::2] + older]


def test_a_cursor_that_cannot_be_read(app, shops):
    with app.app_context():
        with pytest.raises(call_log.BadCursor):
            call_log.page(shops["alpha"]["account"], "UTC", call_log.Filters(), "not-a-cursor")
    assert shops["alpha"]["client"].get("/cabinet/calls?cursor=%%%").status_code == 400
    assert call_log.decode_cursor(call_log.encode_cursor("new", BASE, 17), "new") == [BASE, 17]
    assert call_log.decode_cursor(call_log.encode_cursor("long", BASE, 17, 42), "long") == [42, BASE, 17]
    assert call_log.decode_cursor(call_log.encode_cursor("long", BASE, 17), "long") == [-1, BASE, 17]


@pytest.mark.backends
def test_the_csv_equals_the_filtered_view(app, shops, monkeypatch):
    alpha = shops["alpha"]
    account, (site1, site2), line = alpha["account"], alpha["sites"], alpha["line"]
    for i in range(6):
        add(app, account, (site1, site2)[i % 2], BASE - dt.timedelta(hours=i), phone=f"+7999555000{i}",
            source="yandex" if i % 3 else "google", keyword="диван; «угловой»", status="completed",
            outcome="success", duration_s=10 * i, answered_line_id=line, page_url=f"https://alpha.example/p{i}",
            region="Приморский край")
    monkeypatch.setattr(call_log, "EXPORT_BATCH", 2)  # the export walks several keyset batches
    client = alpha["client"]
    for query in ("", f"site={site1}", "source=yandex", f"site={site2}&source=google", "number=55500",
                  "from=2026-03-10&to=2026-03-10"):
        page_ids = ids_of(client.get(f"/cabinet/calls?{query}").get_data(as_text=True))
        response = client.get(f"/cabinet/calls.csv?{query}")
        assert response.status_code == 200 and response.content_type.startswith("text/csv")
        assert response.is_streamed
        table = read_csv(response)
        assert table[0][0] == "Time (Asia/Vladivostok)" and len(table[0]) == 13
        with app.app_context():
            rows = {row.id: row for row in call_log.iter_rows(account, "Asia/Vladivostok", call_log.Filters())}
        expected = [[rows[i].local_time.strftime("%Y-%m-%d %H:%M:%S"), rows[i].site_name, rows[i].page_url,
                     rows[i].source, rows[i].keyword, rows[i].phone_display, "alpha Ivan", "+7 916 123-45-67",
                     str(rows[i].duration_s), "10.0.0.1", "Приморский край", "Completed", "Talked"]
                    for i in page_ids]
        assert table[1:] == expected, query
        assert page_ids, query


def test_visitor_text_that_looks_like_a_formula_is_quoted_in_the_csv(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE, keyword="=HYPERLINK(\"http://evil\")", source="@x",
        page_url="-1+1")
    _header, row = read_csv(alpha["client"].get("/cabinet/calls.csv"))
    assert (row[2], row[3], row[4]) == ("'-1+1", "'@x", "'=HYPERLINK(\"http://evil\")")


@pytest.mark.backends
def test_another_accounts_requests_never_show(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    mine = add(app, alpha["account"], alpha["sites"][0], BASE, phone="+79995550000")
    theirs = add(app, beta["account"], beta["sites"][0], BASE, phone="+79995550000", answered_line_id=beta["line"],
                 outcome="success", status="completed")
    client = alpha["client"]
    assert ids_of(client.get("/cabinet/calls").get_data(as_text=True)) == [mine]
    assert ids_of(beta["client"].get("/cabinet/calls").get_data(as_text=True)) == [theirs]
    assert len(read_csv(client.get("/cabinet/calls.csv"))) == 2  # the header and alpha's one row
    assert "beta" not in client.get("/cabinet/calls.csv").get_data(as_text=True)
    for query in (f"site={beta['sites'][0]}", f"line={beta['line']}"):
        assert client.get(f"/cabinet/calls?{query}").status_code == 404
        assert client.get(f"/cabinet/calls.csv?{query}").status_code == 404
    with app.app_context():  # the service alone: another account's site, line or cursor matches nothing
        for filters in (call_log.Filters(site_id=beta["sites"][0]), call_log.Filters(line_id=beta["line"])):
            assert call_log.page(alpha["account"], "UTC", filters).rows == []
        cursor = call_log.encode_cursor("new", BASE + dt.timedelta(days=1), theirs + 1)
        assert [row.id for row in call_log.page(alpha["account"], "UTC", call_log.Filters(), cursor).rows] == [mine]


def test_without_stats_view_the_log_is_403(app, shops):
    add(app, shops["alpha"]["account"], shops["alpha"]["sites"][0], BASE)
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "stats.view"])
    client = shops["alpha"]["client"]
    assert client.get("/cabinet/calls").status_code == 403
    assert client.get("/cabinet/calls.csv").status_code == 403


def test_an_expired_account_gets_the_rent_ended_page(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE)
    with app.app_context():
        db.session.get(Account, alpha["account"]).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
    for url in ("/cabinet/calls", "/cabinet/calls.csv"):
        page = alpha["client"].get(url)
        assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True), url
        assert "+7 999 555-00-00" not in page.get_data(as_text=True)
    assert shops["beta"]["client"].get("/cabinet/calls").status_code == 200  # the other account still runs


def test_strangers_log_in_and_staff_go_to_the_back_office(app, client, make_staff_user):
    assert "/login" in client.get("/cabinet/calls").headers["Location"]
    assert "/login" in client.get("/cabinet/calls.csv").headers["Location"]
    _, email, password = make_staff_user("manager")
    staff = app.test_client()
    login(staff, email, password)
    assert staff.get("/cabinet/calls").headers["Location"].endswith("/admin/")


def test_every_status_has_a_translated_label(app, shops):
    assert set(STATUSES) == {status.value for status in RequestStatus}
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE, status="manager_answered")
    row = alpha["client"].get("/cabinet/calls").get_data(as_text=True).split("data-request-id", 1)[1]
    assert "<td>Manager answered</td>" in row and "manager_answered" not in row


# ---- sorting ------------------------------------------------------------------------------------------------

def _sorted_rows(app, shops) -> dict[str, list[int]]:
    """Eight rows with ties in time and in duration (and no duration); the expected id order of each sort."""
    alpha = shops["alpha"]
    spec = [(0, 30), (0, 30), (0, None), (-1, 90), (-1, None), (-2, 30), (1, 5), (1, 90)]  # (seconds, duration)
    made = [(add(app, alpha["account"], alpha["sites"][i % 2], BASE + dt.timedelta(seconds=s), duration_s=d),
             BASE + dt.timedelta(seconds=s), d) for i, (s, d) in enumerate(spec)]
    return {
        "new": [i for i, _at, _d in sorted(made, key=lambda m: (m[1], m[0]), reverse=True)],
        "old": [i for i, _at, _d in sorted(made, key=lambda m: (m[1], m[0]))],
        "long": [i for i, _at, _d in sorted(made, key=lambda m: (-1 if m[2] is None else m[2], m[1], m[0]),
                                             reverse=True)],
    }


@pytest.mark.backends
def test_each_sort_pages_through_every_row_once_in_its_order(app, shops, monkeypatch):
    expected = _sorted_rows(app, shops)
    alpha = shops["alpha"]
    assert expected["long"][:2] != expected["new"][:2]  # the sorts really differ on these rows
    with app.app_context():
        for sort, order in expected.items():
            for size in (1, 2, 3, 5, 8):
                cursor, seen = None, []
                while True:
                    current = call_log.page(alpha["account"], "UTC", call_log.Filters(), cursor, size=size, sort=sort)
                    seen += [row.id for row in current.rows]
                    if current.next_cursor is None:
                        break
                    cursor = current.next_cursor
                assert seen == order, (sort, size)
            assert [row.id for row in call_log.iter_rows(alpha["account"], "UTC", call_log.Filters(), batch=3,
                                                         sort=sort)] == order
    monkeypatch.setattr(call_log, "PAGE_SIZE", 3)
    for sort, order in expected.items():
        assert walk(alpha["client"], f"/cabinet/calls?sort={sort}") == order, sort
    assert walk(alpha["client"], "/cabinet/calls?sort=bogus") == expected["new"]  # an unknown sort is ignored


def test_a_cursor_of_another_sort_is_refused(app, shops, monkeypatch):
    _sorted_rows(app, shops)
    monkeypatch.setattr(call_log, "PAGE_SIZE", 3)
    client = shops["alpha"]["client"]
    next_url = NEXT_RE.search(client.get("/cabinet/calls?sort=long").get_data(as_text=True)).group(1)
    cursor = next_url.split("cursor=")[1].split("&")[0]
    assert client.get(f"/cabinet/calls?sort=long&cursor={cursor}").status_code == 200
    for sort in ("new", "old"):
        assert client.get(f"/cabinet/calls?sort={sort}&cursor={cursor}").status_code == 400
    assert client.get(f"/cabinet/calls.csv?cursor={cursor}").status_code == 200  # exports take no cursor
    with app.app_context(), pytest.raises(call_log.BadCursor):
        call_log.page(shops["alpha"]["account"], "UTC", call_log.Filters(), cursor, sort="old")


def test_the_export_links_carry_the_filters_and_the_sort(app, shops):
    alpha = shops["alpha"]
    html = alpha["client"].get(f"/cabinet/calls?site={alpha['sites'][0]}&source=yandex&sort=long"
                               "&from=2026-03-01").get_data(as_text=True)
    for name in ("csv", "xlsx"):
        href = re.search(rf'href="([^"]+)" data-testid="{name}-link"', html).group(1).replace("&amp;", "&")
        assert href.startswith(f"/cabinet/calls.{name}?")
        for part in (f"site={alpha['sites'][0]}", "source=yandex", "sort=long", "from=2026-03-01"):
            assert part in href, (name, part)


def test_the_source_filter_suggests_the_accounts_own_recent_sources(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    now = utcnow()
    add(app, alpha["account"], alpha["sites"][0], now, source="yandex")
    add(app, alpha["account"], alpha["sites"][0], now - dt.timedelta(days=60), source="old-mail")
    add(app, beta["account"], beta["sites"][0], now, source="beta-secret")
    html = alpha["client"].get("/cabinet/calls").get_data(as_text=True)
    suggestions = html.split('data-testid="source-list"', 1)[1].split("</datalist>", 1)[0]
    assert '<option value="yandex">' in suggestions
    assert "old-mail" not in suggestions and "beta-secret" not in suggestions


# ---- XLSX ---------------------------------------------------------------------------------------------------

def read_xlsx(response) -> list[list]:
    assert response.status_code == 200
    assert response.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [[cell.value for cell in row] for row in book.worksheets[0].iter_rows()]


@pytest.mark.backends
def test_the_xlsx_equals_the_filtered_sorted_view(app, shops, monkeypatch):
    alpha = shops["alpha"]
    account, (site1, site2), line = alpha["account"], alpha["sites"], alpha["line"]
    for i in range(6):
        add(app, account, (site1, site2)[i % 2], BASE - dt.timedelta(hours=i), phone=f"+7999555000{i}",
            source="yandex" if i % 3 else "google", keyword="диван; «угловой»", status="completed",
            outcome="success", duration_s=(10 * i) % 35 if i != 4 else None, answered_line_id=line,
            page_url=f"https://alpha.example/p{i}", region="Приморский край")
    monkeypatch.setattr(call_log, "EXPORT_BATCH", 2)  # the export walks several keyset batches
    client = alpha["client"]
    with app.app_context():
        rows = {row.id: row for row in call_log.iter_rows(account, "Asia/Vladivostok", call_log.Filters())}
    for query in ("", f"site={site1}", "source=yandex&sort=old", f"site={site2}&source=google", "number=55500",
                  "from=2026-03-10&to=2026-03-10&sort=long", "sort=long", f"line={line}&sort=old"):
        page_ids = ids_of(client.get(f"/cabinet/calls?{query}").get_data(as_text=True))
        table = read_xlsx(client.get(f"/cabinet/calls.xlsx?{query}"))
        assert table[0][0] == "Time (Asia/Vladivostok)" and len(table[0]) == 13
        expected = [[rows[i].local_time.replace(tzinfo=None), rows[i].site_name, rows[i].page_url, rows[i].source,
                     rows[i].keyword, rows[i].phone_display, "alpha Ivan", "+7 916 123-45-67", rows[i].duration_s,
                     "10.0.0.1", "Приморский край", "Completed", "Talked"] for i in page_ids]
        assert table[1:] == expected, query
        csv_rows = read_csv(client.get(f"/cabinet/calls.csv?{query}"))[1:]
        assert [row[0] for row in csv_rows] == [row[0].strftime("%Y-%m-%d %H:%M:%S") for row in table[1:]], query
        assert page_ids, query
    times = read_xlsx(client.get("/cabinet/calls.xlsx"))[1:]
    assert isinstance(times[0][0], dt.datetime) and isinstance(times[0][8], int)  # numbers stay numbers


def test_visitor_text_in_the_xlsx_is_never_a_formula(app, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE, keyword="=HYPERLINK(\"http://evil\")", source="@x",
        page_url="=1+1", region="Bell\x07 here")
    response = alpha["client"].get("/cabinet/calls.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    cells = list(book.worksheets[0].iter_rows(min_row=2))[0]
    assert [(cell.value, cell.data_type) for cell in cells[2:5]] == [
        ("=1+1", "s"), ("@x", "s"), ("=HYPERLINK(\"http://evil\")", "s")]
    assert cells[10].value == "Bell here"  # a control character XML cannot hold is dropped, not a 500
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


@pytest.mark.backends
def test_the_xlsx_has_only_the_accounts_own_rows(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    mine = add(app, alpha["account"], alpha["sites"][0], BASE, phone="+79995550000")
    add(app, beta["account"], beta["sites"][0], BASE + dt.timedelta(seconds=1), phone="+79995551111",
        answered_line_id=beta["line"], outcome="success", status="completed", keyword="beta-secret")
    table = read_xlsx(alpha["client"].get("/cabinet/calls.xlsx"))
    assert len(table) == 2 and table[1][5] == "+7 999 555-00-00"
    assert "beta-secret" not in repr(table) and ids_of(alpha["client"].get("/cabinet/calls").get_data(
        as_text=True)) == [mine]
    for query in (f"site={beta['sites'][0]}", f"line={beta['line']}"):
        assert alpha["client"].get(f"/cabinet/calls.xlsx?{query}").status_code == 404
    assert len(read_xlsx(beta["client"].get("/cabinet/calls.xlsx"))) == 2


def test_the_xlsx_needs_stats_view_a_running_service_and_a_login(app, client, shops):
    alpha = shops["alpha"]
    add(app, alpha["account"], alpha["sites"][0], BASE)
    assert "/login" in client.get("/cabinet/calls.xlsx").headers["Location"]
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "stats.view"])
    assert alpha["client"].get("/cabinet/calls.xlsx").status_code == 403
    set_global_setting(app, "client_permissions", CLIENT_DEFAULTS)
    with app.app_context():
        db.session.get(Account, alpha["account"]).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
    blocked = alpha["client"].get("/cabinet/calls.xlsx")
    assert blocked.status_code == 403 and 'data-testid="rent-ended"' in blocked.get_data(as_text=True)
    assert blocked.content_type.startswith("text/html")
    assert shops["beta"]["client"].get("/cabinet/calls.xlsx").status_code == 200
