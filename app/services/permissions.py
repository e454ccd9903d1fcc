"""Feature keys (R1–R4): role defaults from global settings, per-account openings by managers, one check.

Administrators have every key. Managers and clients have their role's defaults (global settings the
administrator edits). For a client, a manager may open (or close) a key for the client's account, but only
a key the administrator lists as openable; an opening of a key that is no longer openable stops counting.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import AccountPermission, Role, User
from app.services import DomainError

FEATURES = {
    "stats.view": _l("Statistics and call log"),
    "billing.view": _l("Balance, payments and rent"),
    "account.personal.edit": _l("Personal settings: e-mail and password"),
    "notifications.edit": _l("Notification preferences"),
    "widget.settings.edit": _l("Widget and call settings"),
    "widget.design.edit": _l("Widget design"),
    "widget.texts.edit": _l("Widget texts"),
    "widget.lines.edit": _l("Manager lines and departments"),
    "widget.blacklist.edit": _l("Blacklist of numbers and addresses"),
    "backoffice.accounts": _l("Back office: accounts, sites and their settings"),
    "backoffice.journal": _l("Back office: ledger and audit log"),
    "backoffice.tariffs": _l("Back office: tariffs"),
    "backoffice.admin": _l("Back office: global settings, permissions, staff, mail"),
}
CLIENT_DEFAULTS = ["stats.view", "billing.view", "account.personal.edit", "notifications.edit"]
MANAGER_DEFAULTS = ["backoffice.accounts", "backoffice.journal"]
OPENABLE_DEFAULTS = ["widget.settings.edit", "widget.design.edit", "widget.texts.edit", "widget.lines.edit",
                     "widget.blacklist.edit"]


class NotOpenable(DomainError):
    code = "permission_not_openable"


def validate_keys(keys: list[str]) -> list[str]:
    unknown = [k for k in keys if k not in FEATURES]
    if unknown:
        raise ValueError(f"unknown permission keys: {', '.join(unknown)}")
    return sorted(set(keys))


def role_defaults(role: str) -> set[str]:
    from app.services.settings import get_settings

    if role == Role.ADMIN:
        return set(FEATURES)
    settings = get_settings()
    return set(settings.manager_permissions if role == Role.MANAGER else settings.client_permissions)


def openable_keys() -> set[str]:
    from app.services.settings import get_settings

    return set(get_settings().openable_permissions)


def account_overrides(account_id: int) -> dict[str, bool]:
    rows = db.session.execute(sa.select(AccountPermission.key, AccountPermission.is_granted)
                              .where(AccountPermission.account_id == account_id)).all()
    openable = openable_keys()
    return {key: granted for key, granted in rows if key in openable}


def features_of(user: User) -> set[str]:
    """Every key this user has now: the one answer both the back office and the cabinet use."""
    if not user.is_active:
        return set()
    keys = role_defaults(user.role)
    if user.role == Role.CLIENT and user.account_id is not None:
        for key, granted in account_overrides(user.account_id).items():
            (keys.add if granted else keys.discard)(key)
    return keys


def can(user: User, key: str) -> bool:
    return key in features_of(user)


def set_account_permission(account_id: int, key: str, is_granted: bool) -> AccountPermission:
    """A manager's opening (or closing) of a key for one account; only openable keys."""
    if key not in openable_keys():
        raise NotOpenable(str(_l("The administrator has not allowed opening “%(key)s”.", key=key)))
    row = db.session.scalar(sa.select(AccountPermission).where(AccountPermission.account_id == account_id,
                                                               AccountPermission.key == key))
    if row is None:
        row = AccountPermission(account_id=account_id, key=key)
        db.session.add(row)
    row.is_granted = is_granted
    db.session.flush()
    return row
