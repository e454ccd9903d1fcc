"""Personal settings (C4): the client ID, the e-mail changed with the current password, the password link."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from cabinet_accounts import expire, two_shops
from helpers import login, set_global_setting, submit

from app.extensions import db
from app.models import Account, User
from app.services.permissions import CLIENT_DEFAULTS

URL = "/cabinet/personal"


@pytest.fixture
def shops(app, make_client_user):
    return two_shops(app, make_client_user)


def emails(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(User.email)))


def test_the_page_shows_the_client_id_and_changes_the_e_mail(app, shops):
    alpha = shops["alpha"]
    with app.app_context():
        code = db.session.get(Account, alpha.account).client_code
    page = alpha.client.get(URL).get_data(as_text=True)
    assert code in page and alpha.email in page and 'href="/password"' in page
    assert 'data-testid="personal-link"' in alpha.client.get("/cabinet/").get_data(as_text=True)

    done = submit(alpha.client, URL, {"email": " New.Boss@Alpha.example ", "current_password": alpha.password},
                  follow_redirects=True).get_data(as_text=True)
    assert "Your e-mail is now new.boss@alpha.example" in done and alpha.email in done
    assert emails(app) == {"new.boss@alpha.example", shops["beta"].email}
    assert alpha.client.get("/cabinet/").status_code == 200  # still logged in
    fresh = app.test_client()
    assert login(fresh, "new.boss@alpha.example", alpha.password).status_code == 302
    assert login(app.test_client(), alpha.email, alpha.password).status_code == 200  # the old address: refused


@pytest.mark.parametrize("email, password, error", [
    ("other@alpha.example", "wrong-password-1", "The current password is wrong."),
    ("not an e-mail", None, "This is not a valid e-mail address."),
    ("{beta}", None, "This e-mail is already registered."),
    ("{alpha}", None, "This is already your e-mail."),
    ("", None, "This field is required."),
])
def test_bad_input_shows_an_error_and_changes_nothing(app, shops, email, password, error):
    alpha, beta = shops["alpha"], shops["beta"]
    before = emails(app)
    response = submit(alpha.client, URL, {"email": email.format(alpha=alpha.email, beta=beta.email.upper()),
                                          "current_password": password or alpha.password})
    assert response.status_code == 200 and error in response.get_data(as_text=True)
    assert emails(app) == before


def test_a_post_without_the_csrf_token_changes_nothing(app, shops):
    alpha = shops["alpha"]
    response = alpha.client.post(URL, data={"email": "new@alpha.example", "current_password": alpha.password})
    assert response.status_code == 400 and "new@alpha.example" not in emails(app)


def test_without_the_feature_the_page_is_403_and_not_linked(app, shops):
    set_global_setting(app, "client_permissions", [k for k in CLIENT_DEFAULTS if k != "account.personal.edit"])
    alpha = shops["alpha"]
    assert alpha.client.get(URL).status_code == 403
    assert submit(alpha.client, URL, {"email": "x@alpha.example", "current_password": alpha.password},
                  page="/cabinet/").status_code == 403
    assert "/cabinet/personal" not in alpha.client.get("/cabinet/").get_data(as_text=True)
    assert "x@alpha.example" not in emails(app)


def test_a_blocked_account_gets_the_rent_ended_page(app, shops):
    expire(app, shops["alpha"].account)
    page = shops["alpha"].client.get(URL)
    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert shops["beta"].client.get(URL).status_code == 200


def test_strangers_log_in(client):
    assert "/login" in client.get(URL).headers["Location"]
