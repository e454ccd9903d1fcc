"""Settings documents (A4): inheritance, sparse versions, and checks the form alone cannot guarantee."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Account, Department
from app.services import site_settings, sites
from app.services.site_settings import SettingsError


def _account_with_site(name: str) -> tuple[int, int]:
    account = Account(client_code=f"{name[:3].upper()}-TEST", company=name)
    db.session.add(account)
    db.session.flush()
    site = sites.create_site(account, f"{name} shop", [f"https://{name}.example"])
    db.session.commit()
    return account.id, site.id


def test_a_site_inherits_account_defaults_until_it_sets_its_own(app_ctx):
    account_id, site_id = _account_with_site("alpha")
    site_settings.save(account_id, None, {"client_delay_s": 10})
    assert site_settings.effective_settings(account_id, site_id).client_delay_s == 10
    site_settings.save(account_id, site_id, {"client_delay_s": 20})
    site_settings.save(account_id, None, {"client_delay_s": 15})
    assert site_settings.effective_settings(account_id, site_id).client_delay_s == 20
    assert site_settings.current_document(account_id, site_id).data == {"client_delay_s": 20}


def test_another_accounts_department_is_refused_by_the_service(app_ctx):
    alpha, alpha_site = _account_with_site("alpha")
    beta, _ = _account_with_site("beta")
    foreign = Department(account_id=beta, name="beta sales")
    own = Department(account_id=alpha, name="alpha sales")
    db.session.add_all([foreign, own])
    db.session.commit()
    with pytest.raises(SettingsError) as error:
        site_settings.save(alpha, alpha_site, {"offered_department_ids": [own.id, foreign.id]})
    assert error.value.errors[0]["loc"] == ("offered_department_ids",)
    assert site_settings.save(alpha, alpha_site, {"offered_department_ids": [own.id]}).version == 1
