"""The back office lists every notification with its delivery status (issue 8: "the status of every notification
in the back office"), filtered by account."""
from __future__ import annotations

import sqlalchemy as sa
from helpers import login, submit

from admin.base import ClientCodeFilter
from app.extensions import db
from app.models import Account, Notification

LIST = "/admin/outbox/"


def _admin(app, make_staff_user):
    _, email, password = make_staff_user("admin")
    client = app.test_client()
    login(client, email, password)
    submit(client, "/lang/en", {"next": LIST}, page="/")
    return client


def test_each_letter_shows_its_status_attempts_and_error(app, make_client_user, make_staff_user):
    _, first_id, first_email, _ = make_client_user("anna@shop.example.com")
    _, second_id, second_email, _ = make_client_user("boris@shop.example.com")
    with app.app_context():  # the welcome letters went to a discard port: one failed, with its error
        db.session.execute(sa.update(Notification).where(Notification.recipient == first_email)
                           .values(status="failed", attempts=5, last_error="SMTP 550 mailbox unavailable"))
        db.session.commit()
        code = db.session.get(Account, first_id).client_code
    admin = _admin(app, make_staff_user)

    page = admin.get(LIST).get_data(as_text=True)
    assert first_email in page and second_email in page
    assert "SMTP 550 mailbox unavailable" in page and "failed" in page

    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "outbox")
    [key] = [key for key, (_, flt) in view._filter_args.items() if isinstance(flt, ClientCodeFilter)]
    filtered = admin.get(LIST, query_string={f"flt0_{key}": code}).get_data(as_text=True)
    assert first_email in filtered and second_email not in filtered


def test_a_client_cannot_see_the_outbox(app, make_client_user):
    _, _, email, password = make_client_user("anna@shop.example.com")
    client = app.test_client()
    login(client, email, password)
    assert client.get(LIST).status_code == 403
