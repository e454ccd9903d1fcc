"""The install page of a site: the snippet with a copy button, and the check "is the widget on my site"."""
from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField

from app.extensions import limiter
from app.guards import requires_running_service
from app.portal import _client_account, bp, own_site
from app.services import install_check

CHECK_RATE_LIMIT = "6 per minute"


def _site_key() -> str:
    """Checks are limited per site and user: the server's fetches stay few, and one user cannot use up
    another's checks."""
    return f"install-check:{request.view_args.get('site_id')}:{current_user.get_id()}"


class CheckForm(FlaskForm):
    url = SelectField(_l("Page to check"))


def _check_form(site) -> CheckForm:
    form = CheckForm()
    form.url.choices = [install_check.page_url(domain) for domain in site.domains]
    return form


def _allow_private() -> bool:
    """Private and loopback addresses may be fetched only when configured so (default: in testing)."""
    allowed = current_app.config.get("INSTALL_CHECK_ALLOW_PRIVATE")
    return current_app.config["TESTING"] if allowed is None else bool(allowed)


@bp.route("/sites/<int:site_id>/install", methods=["GET", "POST"])
@limiter.limit(CHECK_RATE_LIMIT, methods=["POST"], key_func=_site_key)
@login_required
@requires_running_service
def install_page(site_id: int):
    """Any URL checked is one of the site's own domains (the form's choices), never a free-typed one."""
    site = own_site(_client_account(), site_id)
    form = _check_form(site)
    result = None
    if form.validate_on_submit():
        result = install_check.check_page(
            form.url.data, site.public_key, allow_private=_allow_private(),
            timeout_s=current_app.config["INSTALL_CHECK_TIMEOUT_S"])
    return render_template("portal/install.html", site=site, form=form, result=result)
