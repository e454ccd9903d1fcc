"""Settings in the back office: an account's defaults, a site's own settings, the global settings."""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import ValidationError

from admin.base import SecureBaseView
from app.extensions import db
from app.forms.schema_form import apply_errors, schema_form, values_from_form
from app.forms.site_settings_form import (
    flash_saved,
    history,
    preview_response,
    save_site_settings,
    site_settings_form,
)
from app.models import Account, Site
from app.services import site_settings
from app.services.settings import GlobalSettings, get_settings, set_setting


class SiteSettingsView(SecureBaseView):
    """The settings document of an account (defaults for its sites) or of one site; opened from their pages."""

    permission_key = "backoffice.accounts"

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("admin.index"))

    @expose("/account/<int:account_id>", methods=("GET", "POST"))
    def account(self, account_id: int):
        account = db.get_or_404(Account, account_id)
        return self._edit(account, None, _("Defaults for the sites of %(account)s", account=account))

    @expose("/site/<int:site_id>", methods=("GET", "POST"))
    def site(self, site_id: int):
        site = db.get_or_404(Site, site_id)
        return self._edit(site.account, site, _("Settings of the site %(site)s (%(account)s)",
                                                site=site, account=site.account))

    @expose("/site/<int:site_id>/preview", methods=("POST",))
    def site_preview(self, site_id: int):
        """The widget as the form's unsaved values would make it (W-settings): checked like saving, stored nowhere."""
        site = db.get_or_404(Site, site_id)
        return preview_response(self._form(site.account, site), site)

    def _edit(self, account: Account, site: Site | None, heading: str):
        site_id = site.id if site else None
        form = self._form(account, site)
        if form.is_submitted() and save_site_settings(form, account.id, site_id, current_user.id):
            return redirect(request.path)
        preview_url = url_for(".site_preview", site_id=site.id) if site else None
        return self.render("admin/settings_form.html", form=form, heading=heading, account=account, site=site,
                           history=history(account.id, site_id), preview_url=preview_url)

    @staticmethod
    def _form(account: Account, site: Site | None) -> FlaskForm:
        effective = site_settings.effective_settings(account.id, site.id if site else None).model_dump()
        return site_settings_form(account.id)(data=effective)


class GlobalSettingsView(SecureBaseView):
    """The global settings, including which feature keys clients and managers have by default."""

    permission_key = "backoffice.admin"

    @expose("/", methods=("GET", "POST"))
    def index(self):
        current = get_settings()
        form = schema_form(GlobalSettings)(data=current.model_dump())
        if form.is_submitted() and _save_global(form, current):
            return redirect(request.path)
        return self.render("admin/settings_form.html", form=form, heading=None)


def register(admin: Admin) -> None:
    admin.add_view(SiteSettingsView(name=_l("Widget and call settings"), endpoint="site_settings",
                                    url="site-settings"))
    admin.add_view(GlobalSettingsView(name=_l("Global settings"), endpoint="global_settings",
                                      url="global-settings"))


def _save_global(form: FlaskForm, current: GlobalSettings) -> bool:
    """Store the settings that changed when every check passes; otherwise show every problem at once."""
    is_valid = form.validate()
    try:
        wanted = GlobalSettings.model_validate(values_from_form(form))
    except ValidationError as exc:
        apply_errors(form, exc.errors())
        return False
    if not is_valid:
        return False
    changed = [key for key in GlobalSettings.model_fields if getattr(wanted, key) != getattr(current, key)]
    for key in changed:
        set_setting(key, getattr(wanted, key))
    db.session.commit()
    flash_saved(_("Saved.") if changed else None)
    return True
