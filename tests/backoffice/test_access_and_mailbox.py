"""The back office is for staff only; administrators read the mail the local catcher received."""
from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from helpers import login
from servers import free_port

from app.extensions import db
from app.services import accounts


def test_strangers_are_sent_to_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_clients_get_403(client, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/mailbox/").status_code == 403


@pytest.mark.parametrize("role, mailbox_status", [("admin", 200), ("manager", 403)])
def test_staff_open_the_back_office_and_only_admins_read_mail(client, make_staff_user, role, mailbox_status):
    _, email, password = make_staff_user(role)
    response = login(client, email, password)
    assert response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/mailbox/").status_code == mailbox_status


@pytest.fixture
def catcher(tmp_path):
    """The embedded default's SMTP catcher: aiosmtpd storing into a Maildir, as `make run` starts it."""
    port = free_port()
    controller = Controller(Mailbox(str(tmp_path / "maildir")), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, str(tmp_path / "maildir")
    controller.stop()


@pytest.fixture
def app_overrides(catcher):
    port, maildir = catcher
    return {"MAIL_PORT": port, "MAIL_CATCHER_DIR": maildir}


def test_the_mailbox_page_shows_what_the_catcher_received(app, client, make_staff_user):
    with app.app_context():
        accounts.signup("reader@shop.example.com", "secret-pass-1", "Reader <b>Co</b>")
        db.session.commit()
        code = accounts.find_user("reader@shop.example.com").account.client_code
    _, email, password = make_staff_user("admin")
    login(client, email, password)
    listing = client.get("/admin/mailbox/").get_data(as_text=True)
    assert code in listing and "reader@shop.example.com" in listing
    key = listing.split('href="/admin/mailbox/', 1)[1].split('"', 1)[0]
    message = client.get(f"/admin/mailbox/{key}").get_data(as_text=True)
    assert code in message
    assert "<b>Co</b>" not in message  # the company name is escaped, never markup
    assert client.get("/admin/mailbox/no-such-key").status_code == 404
