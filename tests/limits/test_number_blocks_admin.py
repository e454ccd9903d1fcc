"""Staff see the numbers blocked now in the back office (X1) and can lift a block; clients cannot open the list."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from helpers import csrf_token, login, submit

from app.db import utcnow
from app.extensions import db
from app.models import NumberBlock

LIST = "/admin/number_blocks/"


def add_blocks(app) -> dict[str, int]:
    """Blocks of four numbers: in force for a day, in force for good, expired, lifted; their ids by number."""
    now = utcnow()
    rows = {"+79161110001": (now + dt.timedelta(hours=20), None), "+79161110002": (None, None),
            "+79161110003": (now - dt.timedelta(hours=1), None), "+79161110004": (now + dt.timedelta(hours=20), now)}
    with app.app_context():
        blocks = {phone: NumberBlock(phone=phone, reason="limit_number", created_at=now - dt.timedelta(hours=4),
                                     until=until, lifted_at=lifted) for phone, (until, lifted) in rows.items()}
        db.session.add_all(blocks.values())
        db.session.commit()
        return {phone: block.id for phone, block in blocks.items()}


def staff(app, make_staff_user):
    _, email, password = make_staff_user("admin")
    client = app.test_client()
    login(client, email, password)
    submit(client, "/lang/en", {"next": LIST}, page="/")
    return client


def test_staff_see_the_blocks_in_force_and_lift_one(app, make_staff_user):
    ids = add_blocks(app)
    admin = staff(app, make_staff_user)

    page = admin.get(LIST).get_data(as_text=True)
    assert "+7 916 111-00-01" in page and "+7 916 111-00-02" in page and "For good" in page
    assert "+7 916 111-00-03" not in page and "+7 916 111-00-04" not in page  # expired, lifted

    response = admin.post(f"{LIST}action/", data={"action": "lift", "rowid": str(ids["+79161110001"]),
                                                  "url": LIST, "csrf_token": csrf_token(page)},
                          follow_redirects=True)
    assert response.status_code == 200 and "Blocks lifted: 1." in response.get_data(as_text=True)
    assert "+7 916 111-00-01" not in admin.get(LIST).get_data(as_text=True)
    with app.app_context():
        lifted = db.session.get(NumberBlock, ids["+79161110001"])
        assert lifted.lifted_at is not None and lifted.lifted_by_id is not None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(NumberBlock)
                                 .where(NumberBlock.lifted_at.is_not(None))) == 2


def test_a_client_cannot_open_the_blocks(app, make_client_user):
    ids = add_blocks(app)
    _, _, email, password = make_client_user("anna@shop.example.com")
    client = app.test_client()
    login(client, email, password)
    assert client.get(LIST).status_code == 403
    page = client.get("/cabinet/").get_data(as_text=True)
    answer = client.post(f"{LIST}action/", data={"action": "lift", "rowid": str(ids["+79161110001"]), "url": LIST,
                                                 "csrf_token": csrf_token(page)})
    assert answer.status_code == 403
    with app.app_context():
        assert db.session.get(NumberBlock, ids["+79161110001"]).lifted_at is None
