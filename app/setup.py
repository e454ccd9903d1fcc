"""The `register_*` helpers `create_app` calls; each wires one concern into the app."""
from __future__ import annotations

import redis.exceptions as redis_exc
import sqlalchemy.exc as sa_exc
from flask import Flask, has_request_context, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import force_locale
from flask_login import current_user
from flask_principal import AnonymousIdentity, Identity, RoleNeed, UserNeed, identity_loaded

from app import templating
from app.extensions import assets, babel, csrf, db, limiter, login_manager, mail, migrate, principal
from app.permissions import add_feature_needs

RETRY_AFTER_S = 5  # a database restart takes seconds


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (one metadata for Alembic)
    from app.services import audit  # noqa: F401  (the session listener that writes the audit log)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR") or _migrations_dir()))
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)


def _migrations_dir():
    from app.config import PROJECT_ROOT

    return PROJECT_ROOT / "migrations"


def register_security(app: Flask) -> None:
    from app.models import User

    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    app.session_interface = _SessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str):
        user_id, _, _generation = session_id.partition(":")
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.is_active or user.get_id() != session_id:
            return None
        return user

    principal.init_app(app)

    @principal.identity_loader
    def identity_from_login():
        if _is_public(request.path):  # the API and the widget never read the session: no `Vary: Cookie`
            return AnonymousIdentity()
        return Identity(current_user.id) if current_user.is_authenticated else AnonymousIdentity()

    @identity_loaded.connect_via(app)
    def add_needs(sender, identity):
        if identity.id is not None and current_user.is_authenticated:
            identity.provides.add(UserNeed(current_user.id))
            identity.provides.add(RoleNeed(current_user.role))
            add_feature_needs(identity)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", _csp(request.path))
        return response


class _SessionInterface(SecureCookieSessionInterface):
    """The public API and the widget never use the session: no cookie and no `Vary: Cookie`, so they cache."""

    def save_session(self, app, session, response):
        if not _is_public(request.path):
            super().save_session(app, session, response)


def _is_public(path: str) -> bool:
    return path.startswith(("/api/", "/widget.js", "/static/"))


def _csp(path: str) -> str:
    """No inline scripts on our pages; Flask-Admin's own templates need inline event handlers (onclick)."""
    policy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    if path.startswith("/admin/"):
        policy += "; script-src 'self'; script-src-attr 'unsafe-inline'"
    return policy


def register_i18n(app: Flask) -> None:
    def select_locale():
        if has_request_context() and current_user.is_authenticated and current_user.account is not None:
            return current_user.account.locale
        lang = session.get("lang") if has_request_context() else None
        return lang if lang in app.config["LANGUAGES"] else app.config["BABEL_DEFAULT_LOCALE"]

    def select_timezone():
        if has_request_context() and current_user.is_authenticated and current_user.account is not None:
            return current_user.account.timezone
        return None

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    templating.register(app)


def register_assets(app: Flask) -> None:
    """LESS sources in assets/ compiled by node's lessc into app/static/gen (`make assets`)."""
    from webassets import Bundle

    assets.init_app(app)
    if "site_css" not in assets:
        assets.register("site_css", Bundle("../../assets/less/site.less", filters="less",
                                           output="gen/site.%(version)s.css",
                                           depends="../../assets/less/*.less"))


def register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.hooks import bp as hooks_bp
    from app.portal import bp as portal_bp
    from app.portal.notifications import unsubscribe_bp
    from app.site import bp as site_bp

    app.register_blueprint(site_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(unsubscribe_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(hooks_bp)

    @app.teardown_appcontext
    def close_session(exc):
        db.session.remove()


def register_error_handlers(app: Flask) -> None:
    """An HTML page for people; under /api/ the API's JSON error with a stable code."""
    from app.api.http import ApiError, error_response

    api_codes = {400: "invalid_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 429: "rate_limited", 500: "internal_error"}

    def page(code: int):
        def handler(error):
            if request.path.startswith("/api/"):
                return error_response(ApiError(api_codes[code], code))
            return render_template("errors.html", code=code, error=error), code
        return handler

    for code in (400, 403, 404, 405, 429, 500):
        app.register_error_handler(code, page(code))
    for unreachable in (sa_exc.OperationalError, redis_exc.ConnectionError, redis_exc.TimeoutError):
        app.register_error_handler(unreachable, server_unavailable)


def server_unavailable(error):
    """The database or Redis (the abuse limits, the queue) is unreachable, e.g. restarting: 503 and "try again",
    never a 500. The answer itself must not need the database: no signed-in user is loaded, the language comes
    from the session."""
    from flask import current_app

    from app.api.http import ApiError, error_response

    current_app.logger.warning("a server is unavailable: %s", getattr(error, "orig", None) or error)
    if request.path.startswith("/api/"):
        response = error_response(ApiError("service_unavailable", 503))
    else:
        lang = session.get("lang")
        lang = lang if lang in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]
        with force_locale(lang):  # rendered without the context processors: they would load the user
            page = current_app.jinja_env.get_template("unavailable.html").render(lang=lang)
        response = current_app.make_response((page, 503))
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def register_cli(app: Flask) -> None:
    from app.cli import billing_cli, demo_cli, erase_phone, mtt_sandbox, users_cli, yookassa_sandbox

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(billing_cli)
    app.cli.add_command(yookassa_sandbox)
    app.cli.add_command(mtt_sandbox)
    app.cli.add_command(erase_phone)


def register_admin(app: Flask) -> None:
    from admin import init_admin

    init_admin(app)


def register_worker(app: Flask) -> None:
    from dialer.huey_app import init_app

    init_app(app)
