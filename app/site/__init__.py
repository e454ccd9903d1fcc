"""The service's public website (S1): landing page and language choice."""
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.site import landing
from app.site import tariffs as price_list

bp = Blueprint("site", __name__)
WIDGET_MAX_AGE_S = 300


@bp.get("/")
def index():
    """The landing page (S1): what the service does, its promise beside the measured speed, prices, FAQ."""
    from app.services.settings import get_settings

    speed = landing.measured_speed()
    return render_template("site/index.html", settings=get_settings(), prices=landing.price_summary(),
                           speed=speed, speed_is_known=landing.is_known(speed), seconds=landing.seconds_text,
                           speed_window_days=landing.SPEED_WINDOW.days, min_speed_sample=landing.MIN_SPEED_SAMPLE)


@bp.get("/tariffs")
def tariffs():
    """The price list in force and, when one is scheduled, the next version and what it changes (S1, C4)."""
    from app.services.settings import get_settings

    tariff = price_list.current_tariff()
    upcoming = price_list.next_tariff()
    settings = get_settings()
    return render_template(
        "site/tariffs.html", tariff=tariff, trial_days=settings.trial_days, gift_kop=settings.gift_kop,
        upcoming=upcoming if tariff is not None else None,
        rows=price_list.rate_rows(tariff) if tariff else [], discounts=price_list.discounts(tariff) if tariff else [],
        leg_labels=price_list.LEG_LABELS,
        upcoming_changes=price_list.changes(tariff, upcoming) if tariff and upcoming else [])


@bp.app_template_filter("rate_money")
def rate_money(kop) -> str:
    return price_list.rate_money(kop)


@bp.app_template_global("tariff_in_force")
def tariff_in_force():
    """For the cabinet's summary (C4): the version in force, or None."""
    return price_list.current_tariff()


@bp.get("/favicon.ico")
def favicon():
    return current_app.send_static_file("favicon.svg")


@bp.get("/widget.js")
def widget_js():
    """The widget bundle (W1), built by `make widget`; short caching so a new build reaches sites soon."""
    response = current_app.send_static_file("widget.js")
    response.cache_control.public = True
    response.cache_control.max_age = WIDGET_MAX_AGE_S
    return response


@bp.get("/demo/site")
def demo_site():
    """A host page with the demo site's widget, as a client's website would embed it (`make run`)."""
    key = request.args.get("key") or _demo_site_key()
    if key is None:
        abort(404)
    return render_template("site/demo_host.html", site_key=key)


def _demo_site_key() -> str | None:
    from app.cli import DEMO_EMAILS
    from app.services.accounts import find_user

    user = find_user(DEMO_EMAILS["client"])
    sites = user.account.sites if user is not None and user.account is not None else []
    return sites[0].public_key if sites else None


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
