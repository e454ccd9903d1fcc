"""Sign-up, log-in checks, passwords and reset links, staff users."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from app.db import utcnow
from app.extensions import db
from app.models import Account, Role, User
from app.services import DomainError, ledger, notifications, outbox
from app.services.settings import get_settings
from app.urls import external_url

# Unambiguous to read aloud or type from a screen: no 0/O, 1/I/L.
CLIENT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MIN_PASSWORD_LENGTH = 8
_DUMMY_HASH = generate_password_hash("timing-equaliser")


class AccountError(DomainError):
    code = "account_error"


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(_l("This is not a valid e-mail address."), code="invalid_email") from exc


def check_password_strength(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
                           code="weak_password")
    if password.isdigit() or password.lower() == email.lower():
        raise AccountError(_l("The password is too easy to guess."), code="weak_password")


def new_client_code() -> str:
    """Like `K7M-4QX`: short enough to say on the phone, about 27 bits of randomness."""
    for _ in range(20):
        raw = "".join(secrets.choice(CLIENT_CODE_ALPHABET) for _ in range(7))
        code = f"{raw[:3]}-{raw[3:]}"
        if not db.session.scalar(sa.select(Account.id).where(Account.client_code == code)):
            return code
    raise AccountError("could not allocate a client ID")  # 20 collisions in a row: the space is exhausted


def signup(email: str, password: str, company: str, *, locale: str = "ru",
           timezone: str = "Europe/Moscow") -> User:
    """Create an account with its client ID, its first user, the trial period and the gift (B2, C1)."""
    email = normalise_email(email)
    check_password_strength(password, email)
    company = company.strip()
    if not company:
        raise AccountError(_l("The company name is required."), code="company_required")
    if find_user(email):
        raise AccountError(_l("This e-mail is already registered."), code="email_taken")
    account = open_account(company, locale=locale, timezone=timezone)
    user = User(email=email, password_hash=generate_password_hash(password), role=Role.CLIENT.value, account=account)
    db.session.add(user)
    db.session.flush()
    gift_kop = get_settings().gift_kop
    notifications.notify(account.id, "welcome", {"account": account, "user": user, "gift_kop": gift_kop,
                                                 "cabinet_url": external_url("portal.dashboard")},
                         dedup_key=f"welcome:{account.id}", recipient=email)
    return user


def open_account(company: str, *, locale: str = "ru", timezone: str = "Europe/Moscow") -> Account:
    """A new account with its client ID, the trial period and the gift (B2); sign-up and the back office."""
    settings = get_settings()
    account = Account(client_code=new_client_code(), company=company[:200], locale=locale, timezone=timezone,
                      trial_ends_at=utcnow() + dt.timedelta(days=settings.trial_days))
    db.session.add(account)
    db.session.flush()
    post_gift(account, settings.gift_kop)
    return account


def post_gift(account: Account, gift_kop: int) -> None:
    if gift_kop:
        ledger.post(f"gift:{account.id}", "gift", [
            (ledger.client_account(account.id), gift_kop),
            (ledger.system_account(ledger.GIFTS), -gift_kop),
        ], memo="Trial gift")


def create_user(email: str, password: str, role: str, account_id: int | None = None) -> User:
    """Staff or an extra client user (CLI and back office)."""
    email = normalise_email(email)
    check_password_strength(password, email)
    if role not in set(Role):
        raise AccountError(_l("Unknown role %(role)s.", role=role), code="unknown_role")
    if role == Role.CLIENT and (account_id is None or db.session.get(Account, account_id) is None):
        raise AccountError(_l("A client user needs an existing account."), code="account_required")
    if find_user(email):
        raise AccountError(_l("This e-mail is already registered."), code="email_taken")
    user = User(email=email, password_hash=generate_password_hash(password), role=role,
                account_id=account_id if role == Role.CLIENT else None)
    db.session.add(user)
    db.session.flush()
    return user


def find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    user = find_user(email)
    if user is None or not user.is_active:
        check_password_hash(_DUMMY_HASH, password)  # same work either way: no user enumeration by timing
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    return user


def set_password(user: User, new_password: str) -> None:
    check_password_strength(new_password, user.email)
    user.password_hash = generate_password_hash(new_password)
    user.password_changed_at = utcnow()
    db.session.flush()
    _send_to_user(user, "password_changed", {"user": user, "when": user.password_changed_at})


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not check_password_hash(user.password_hash, current_password):
        raise AccountError(_l("The current password is wrong."), code="wrong_password")
    set_password(user, new_password)


def _locale(user: User) -> str:
    return user.account.locale if user.account else "ru"


def _send_to_user(user: User, kind: str, context: dict) -> None:
    """An always-sent letter to this user: a client's through the notification catalogue (its letters link to
    the account's preferences), a staff member's straight to the outbox."""
    if user.account_id is not None:
        notifications.notify(user.account_id, kind, context, dedup_key=None, recipient=user.email)
    else:
        outbox.queue_email(kind, user.email, context, locale=_locale(user))


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _hash_fingerprint(user: User) -> str:
    # Changes with the password, so a link works once and dies with any later password change.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the address belongs to an active user; say nothing either way."""
    try:
        user = find_user(normalise_email(email))
    except AccountError:
        return
    if user is None or not user.is_active:
        return
    token = _reset_serializer().dumps({"uid": user.id, "fp": _hash_fingerprint(user)})
    max_age_min = get_settings().reset_token_max_age_s // 60
    _send_to_user(user, "password_reset", {
        "user": user, "reset_url": external_url("auth.reset_password", token=token), "max_age_min": max_age_min,
    })


def user_for_reset_token(token: str) -> User:
    try:
        data = _reset_serializer().loads(token, max_age=get_settings().reset_token_max_age_s)
    except SignatureExpired as exc:
        raise AccountError(_l("This link has expired; ask for a new one."), code="token_expired") from exc
    except BadSignature as exc:
        raise AccountError(_l("This link is not valid."), code="token_invalid") from exc
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.is_active or data.get("fp") != _hash_fingerprint(user):
        raise AccountError(_l("This link has already been used or is no longer valid."), code="token_used")
    return user
