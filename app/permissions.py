"""Flask-Principal needs from feature keys: `feature_permission(key).can()` and `require_feature(key)`."""
from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user, login_required
from flask_principal import Permission

FEATURE = "feature"


def feature_need(key: str) -> tuple[str, str]:
    return (FEATURE, key)


def feature_permission(key: str) -> Permission:
    return Permission(feature_need(key))


def require_feature(key: str):
    """Decorate a cabinet view: log in first, then 403 without the key."""
    def decorate(view):
        @functools.wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            if not feature_permission(key).can():
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


def add_feature_needs(identity) -> None:
    from app.services.permissions import features_of

    if current_user.is_authenticated:
        for key in features_of(current_user):
            identity.provides.add(feature_need(key))
