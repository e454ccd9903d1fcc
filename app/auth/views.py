"""Views of the auth blueprint; each commits once at its end."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import LoginForm, PasswordChangeForm, ResetForm, ResetRequestForm, SignupForm
from app.extensions import db, limiter
from app.services import accounts
from app.services.accounts import AccountError


def _home_for(user) -> str:
    return url_for("admin.index") if user.is_staff else url_for("portal.dashboard")


def _login_email_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.signup(form.email.data, form.password.data, form.company.data,
                                   locale=_current_locale())
        except AccountError as exc:
            db.session.rollback()
            _field_for(form, exc.code).errors.append(str(exc))
        else:
            db.session.commit()
            login_user(user)
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(url_for("portal.dashboard"))
    return render_template("auth/signup.html", form=form)


def _current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def _field_for(form, code: str):
    fields = {"invalid_email": "email", "email_taken": "email", "weak_password": "password",
              "company_required": "company", "wrong_password": "current_password"}
    name = fields.get(code)
    return getattr(form, name) if name and hasattr(form, name) else getattr(form, "new_password", form.email)


def _login_limits() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limits, methods=["POST"])
@limiter.limit(_login_limits, methods=["POST"], key_func=_login_email_key)
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Wrong e-mail or password."))
        else:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next() or _home_for(user))
    return render_template("auth/login.html", form=form)


def _safe_next() -> str | None:
    target = request.args.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else None


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("site.index"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            accounts.change_password(user, form.current_password.data, form.new_password.data)
        except AccountError as exc:
            db.session.rollback()
            _field_for(form, exc.code).errors.append(str(exc))
        else:
            db.session.commit()
            login_user(user)  # this session stays valid; the others end with the old password
            flash(_("Your password has been changed."), "success")
            return redirect(_home_for(user))
    return render_template("auth/password_change.html", form=form)


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        db.session.commit()
        flash(_("If this address is registered, we have sent a link to reset the password."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        user = accounts.user_for_reset_token(token)
    except AccountError as exc:
        return render_template("auth/reset_invalid.html", message=str(exc)), 400
    form = ResetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.new_password.data)
        except AccountError as exc:
            db.session.rollback()
            form.new_password.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Your password has been changed. Please log in."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)
