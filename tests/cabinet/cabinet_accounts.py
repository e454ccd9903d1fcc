"""Two client accounts for the cabinet's settings pages: each logged in, pages in English, one site each."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from helpers import login

from app.db import utcnow
from app.extensions import db
from app.models import Account
from app.services import permissions, sites


@dataclass
class Shop:
    client: object
    account: int
    site: int
    email: str
    password: str


def two_shops(app, make_client_user, *features: str, domains=("https://{name}.example",)) -> dict[str, Shop]:
    """{"alpha": Shop, "beta": Shop}; `features` (openable keys) are opened to both accounts."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            account = db.session.get(Account, account_id)
            account.locale = "en"
            site = sites.create_site(account, f"{name} shop", [d.format(name=name) for d in domains])
            for key in features:
                permissions.set_account_permission(account_id, key, True)
            db.session.commit()
            site_id = site.id
        client = app.test_client()
        login(client, email, password)
        out[name] = Shop(client, account_id, site_id, email, password)
    return out


def expire(app, account_id: int) -> None:
    """End the account's trial: the service stops (the rent-ended page)."""
    with app.app_context():
        db.session.get(Account, account_id).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()
