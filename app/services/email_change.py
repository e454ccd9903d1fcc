"""A client changes the e-mail it logs in with (C4): the current password proves it is the owner."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash

from app.extensions import db
from app.models import User
from app.services.accounts import AccountError, find_user, normalise_email


def change_email(user: User, current_password: str, new_email: str) -> str:
    """Give `user` the address `new_email` (normalised, unique); returns the old address. Raises AccountError."""
    if not check_password_hash(user.password_hash, current_password or ""):
        raise AccountError(_l("The current password is wrong."), code="wrong_password")
    email = normalise_email(new_email or "")
    if email == user.email:
        raise AccountError(_l("This is already your e-mail."), code="same_email")
    if find_user(email) is not None:
        raise AccountError(_l("This e-mail is already registered."), code="email_taken")
    old = user.email
    try:
        with db.session.begin_nested():  # another user taking the address at the same moment: the unique index
            user.email = email
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        user.email = old
        raise AccountError(_l("This e-mail is already registered."), code="email_taken") from exc
    return old
