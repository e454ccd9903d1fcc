"""The service's public website (S1): landing page and language choice."""
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

bp = Blueprint("site", __name__)


@bp.get("/")
def index():
    return render_template("site/index.html")


@bp.get("/favicon.ico")
def favicon():
    return current_app.send_static_file("favicon.svg")


@bp.post("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
        if current_user.is_authenticated and current_user.account is not None:
            from app.extensions import db

            current_user.account.locale = code
            db.session.commit()
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("site.index"))
