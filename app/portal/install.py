"""The install page of a site: the snippet with a copy button, and the check "is the widget on my site"."""
from __future__ import annotations

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField

from app.guards import requires_running_service
from app.portal import _client_account, bp, own_site
from app.services import install_check


class CheckForm(FlaskForm):
    url = SelectField(_l("Page to check"))


def _check_form(site) -> CheckForm:
    form = CheckForm()
    form.url.choices = [install_check.page_url(domain) for domain in site.domains]
    return form


def _allow_private() -> bool:
    """Private and loopback addresses may be fetched only when configured so (default: in testing)."""
    return bool(current_app.config.get("INSTALL_CHECK_ALLOW_PRIVATE", current_app.config["TESTING"]))


@bp.route("/sites/<int:site_id>/install", methods=["GET", "POST"])
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
            timeout_s=current_app.config.get("INSTALL_CHECK_TIMEOUT_S", install_check.TIMEOUT_S))
    return render_template("portal/install.html", site=site, form=form, result=result)
