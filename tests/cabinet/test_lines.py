"""Manager lines in the cabinet (D1): only when `widget.lines.edit` is opened, only the account's own lines,
departments and sites, numbers checked as in the back office, at most 15."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from cabinet_accounts import expire, two_shops
from helpers import submit
from request_rows import request_with_timeline

from app.extensions import db
from app.models import Department, ManagerLine
from app.services.lines import MAX_LINES_PER_ACCOUNT

FEATURE = "widget.lines.edit"


@pytest.fixture
def shops(app, make_client_user):
    return two_shops(app, make_client_user, FEATURE)


def department(app, account_id: int, name: str) -> int:
    with app.app_context():
        row = Department(account_id=account_id, name=name)
        db.session.add(row)
        db.session.commit()
        return row.id


def add_line(app, account_id: int, number: str, name: str = "") -> int:
    with app.app_context():
        line = ManagerLine(account_id=account_id, number=number, manager_name=name)
        db.session.add(line)
        db.session.commit()
        return line.id


def lines_of(app, account_id: int) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(sa.select(ManagerLine).where(ManagerLine.account_id == account_id)
                                  .order_by(ManagerLine.id)).all()
        return [(r.number, r.manager_name, r.is_active, r.department_id, r.is_for_all_sites,
                 sorted(s.id for s in r.sites)) for r in rows]


def fields(**changes) -> dict:
    return {"kind": "phone", "country": "RU", "number": "8 (999) 555-00-01", "extension": "",
            "manager_name": "Olga", "department": "0", "is_active": "y", "is_for_all_sites": "y", **changes}


def test_a_client_adds_edits_deactivates_and_deletes_its_lines(app, shops):
    alpha = shops["alpha"]
    sales = department(app, alpha.account, "Sales")
    assert 'data-testid="lines-link"' in alpha.client.get("/cabinet/").get_data(as_text=True)
    response = submit(alpha.client, "/cabinet/lines/new", fields(department=str(sales)), follow_redirects=True)
    assert "The manager line has been added." in response.get_data(as_text=True)
    assert "+7 999 555-00-01" in response.get_data(as_text=True) and "Sales" in response.get_data(as_text=True)
    assert lines_of(app, alpha.account) == [("+79995550001", "Olga", True, sales, True, [])]

    with app.app_context():
        line_id = db.session.scalar(sa.select(ManagerLine.id))
    edit = f"/cabinet/lines/{line_id}"
    assert "Olga" in alpha.client.get(edit).get_data(as_text=True)
    submit(alpha.client, edit, fields(number="+7 999 555 00 02", manager_name="Ivan", is_for_all_sites="",
                                      sites=str(alpha.site)))
    assert lines_of(app, alpha.account) == [("+79995550002", "Ivan", True, None, False, [alpha.site])]
    submit(alpha.client, f"{edit}/active", {}, page="/cabinet/lines")
    assert lines_of(app, alpha.account)[0][2] is False
    submit(alpha.client, f"{edit}/delete", {}, page="/cabinet/lines")
    assert lines_of(app, alpha.account) == []


@pytest.mark.parametrize("changes, error", [
    ({"number": "12345"}, "This phone number is not valid for the chosen country."),
    ({"number": "call me"}, "This is not a phone number."),
    ({"number": ""}, "This field is required."),
    ({"kind": "sip", "number": "not an address"}, "Enter a SIP address like manager@pbx.example.com."),
    ({"extension": "12a"}, "The extension has digits only."),
    ({"department": "{beta_department}"}, "Not a valid choice"),
    ({"is_for_all_sites": "", "sites": "{beta_site}"}, "not a valid choice"),
])
def test_bad_input_shows_an_error_and_stores_nothing(app, shops, changes, error):
    alpha, beta = shops["alpha"], shops["beta"]
    ids = {"beta_department": department(app, beta.account, "Beta sales"), "beta_site": beta.site}
    response = submit(alpha.client, "/cabinet/lines/new", fields(**{k: v.format(**ids) for k, v in changes.items()}))
    assert response.status_code == 200 and error in response.get_data(as_text=True)
    assert lines_of(app, alpha.account) == []


def test_an_edit_refused_keeps_the_line_as_it_was(app, shops):
    alpha = shops["alpha"]
    line_id = add_line(app, alpha.account, "+79995550001", "Olga")
    response = submit(alpha.client, f"/cabinet/lines/{line_id}", fields(number="12345", manager_name="Ivan"))
    assert "This phone number is not valid" in response.get_data(as_text=True)
    assert lines_of(app, alpha.account) == [("+79995550001", "Olga", True, None, True, [])]


def test_at_most_fifteen_lines(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    for n in range(MAX_LINES_PER_ACCOUNT - 1):
        add_line(app, alpha.account, f"+7999555{n:04d}")
    add_line(app, beta.account, "+79990000000")  # another account's lines do not count
    assert submit(alpha.client, "/cabinet/lines/new", fields(number="+79995559998")).status_code == 302
    page = alpha.client.get("/cabinet/lines").get_data(as_text=True)
    assert 'data-testid="add-line"' not in page
    response = submit(alpha.client, "/cabinet/lines/new", fields(number="+79995559999"))
    assert "An account has at most 15 manager numbers." in response.get_data(as_text=True)
    assert len(lines_of(app, alpha.account)) == MAX_LINES_PER_ACCOUNT


def test_another_accounts_line_is_not_found_and_never_changed(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    beta_line = add_line(app, beta.account, "+79990000000", "Beta manager")
    before = lines_of(app, beta.account)
    assert "Beta manager" not in alpha.client.get("/cabinet/lines").get_data(as_text=True)
    assert alpha.client.get(f"/cabinet/lines/{beta_line}").status_code == 404
    page = "/cabinet/lines/new"
    assert submit(alpha.client, f"/cabinet/lines/{beta_line}", fields(), page=page).status_code == 404
    assert submit(alpha.client, f"/cabinet/lines/{beta_line}/active", {}, page=page).status_code == 404
    assert submit(alpha.client, f"/cabinet/lines/{beta_line}/delete", {}, page=page).status_code == 404
    assert lines_of(app, beta.account) == before and lines_of(app, alpha.account) == []


def test_a_post_without_the_csrf_token_changes_nothing(app, shops):
    alpha = shops["alpha"]
    line_id = add_line(app, alpha.account, "+79995550001")
    assert alpha.client.post("/cabinet/lines/new", data=fields(number="+79995550002")).status_code == 400
    assert alpha.client.post(f"/cabinet/lines/{line_id}/delete").status_code == 400
    assert alpha.client.post(f"/cabinet/lines/{line_id}/active").status_code == 400
    assert lines_of(app, alpha.account) == [("+79995550001", "", True, None, True, [])]


def test_without_the_feature_the_pages_are_403_and_not_linked(app, make_client_user):
    alpha = two_shops(app, make_client_user)["alpha"]  # nothing opened
    line_id = add_line(app, alpha.account, "+79995550001")
    assert "/cabinet/lines" not in alpha.client.get("/cabinet/").get_data(as_text=True)
    for url in ("/cabinet/lines", "/cabinet/lines/new", f"/cabinet/lines/{line_id}"):
        assert alpha.client.get(url).status_code == 403, url
    assert submit(alpha.client, f"/cabinet/lines/{line_id}/delete", {}, page="/cabinet/").status_code == 403
    assert submit(alpha.client, "/cabinet/lines/departments", {"name": "Sales"}, page="/cabinet/").status_code == 403
    assert len(lines_of(app, alpha.account)) == 1 and departments_of(app, alpha.account) == []


def test_a_blocked_account_gets_the_rent_ended_page(app, shops):
    expire(app, shops["alpha"].account)
    page = shops["alpha"].client.get("/cabinet/lines")
    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert shops["beta"].client.get("/cabinet/lines").status_code == 200


def departments_of(app, account_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(Department.name).where(Department.account_id == account_id)))


def test_a_client_adds_departments_of_its_own_account(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    department(app, beta.account, "Sales")  # the same name in another account does not clash
    done = submit(alpha.client, "/cabinet/lines/departments", {"name": " Sales "}, page="/cabinet/lines",
                  follow_redirects=True).get_data(as_text=True)
    assert "The department Sales has been added." in done
    assert ">Sales</option>" in alpha.client.get("/cabinet/lines/new").get_data(as_text=True)
    for name, error in (("sales", "The department sales already exists."), ("   ", "This field is required.")):
        response = submit(alpha.client, "/cabinet/lines/departments", {"name": name}, page="/cabinet/lines")
        assert response.status_code == 200 and error in response.get_data(as_text=True)
    assert alpha.client.post("/cabinet/lines/departments", data={"name": "Support"}).status_code == 400
    assert departments_of(app, alpha.account) == ["Sales"] and departments_of(app, beta.account) == ["Sales"]


def test_a_line_that_answered_calls_is_kept_and_still_named_in_the_call_log(app, shops):
    alpha = shops["alpha"]
    line_id = add_line(app, alpha.account, "+79995550077", "Vera")
    with app.app_context():
        request_with_timeline(alpha.account, alpha.site, line_id=line_id)
        db.session.commit()
    page = submit(alpha.client, f"/cabinet/lines/{line_id}/delete", {}, page="/cabinet/lines",
                  follow_redirects=True).get_data(as_text=True)
    assert "This line has answered calls" in page
    assert [row[1] for row in lines_of(app, alpha.account)] == ["Vera"]
    assert "Vera" in alpha.client.get("/cabinet/calls").get_data(as_text=True)
