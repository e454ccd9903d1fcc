"""Sites, departments, manager lines and blacklists; choices of related rows stay within one account."""
from __future__ import annotations

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import SelectField, ValidationError
from wtforms.fields.choices import SelectChoice

from admin.base import SecureModelView
from admin.fields import LinesField
from app.extensions import db
from app.models import Account, BlacklistEntry, Department, ManagerLine, Site
from app.services import blacklist, sites
from app.services.lines import LineError, check_line


class AccountScopedView(SecureModelView):
    """Rows of one account: related choices (departments, sites) come from that account only.

    On edit the account is fixed; on create it may be preset with `?account_id=`.
    """

    scoped_relations: tuple[str, ...] = ()

    def create_form(self, obj=None):
        form = super().create_form(obj)
        account_id = request.args.get("account_id", type=int)
        if account_id and request.method == "GET":
            form.account.data = db.session.get(Account, account_id)
        if account_id:
            self._scope(form, account_id)
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form.account
        self._scope(form, obj.account_id)
        return form

    def validate_form(self, form) -> bool:
        """A posted id outside the offered choices is an error, not a silently empty relation."""
        is_valid = super().validate_form(form)
        for name in self.scoped_relations:
            field = getattr(form, name, None)
            if field is not None and getattr(field, "_formdata", None) is not None and field.data is None:
                field.errors = [*field.errors, str(_l("Not a valid choice."))]
                is_valid = False
        return is_valid

    def _scope(self, form, account_id: int) -> None:
        for name in self.scoped_relations:
            model = getattr(self.model, name).property.mapper.class_
            getattr(form, name).query_factory = (
                lambda m=model: db.session.query(m).filter(m.account_id == account_id))


def _settings_link(view, context, model: Site, name) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url_for("site_settings.site", site_id=model.id), _l("Settings"))


class SiteView(AccountScopedView):
    column_list = ["name", "account", "domains", "public_key", "is_active", "created_at", "settings"]
    column_searchable_list = ["name", "public_key"]
    column_filters = ["is_active", "created_at"]
    column_labels = {"name": _l("Name"), "account": _l("Account"), "domains": _l("Addresses"),
                     "public_key": _l("Site key"), "is_active": _l("Active"), "created_at": _l("Created"),
                     "settings": _l("Settings")}
    column_formatters = {"domains": lambda v, c, model, n: Markup("<br>").join(model.domains or []),
                         "settings": _settings_link}
    form_columns = ["account", "name", "domains", "is_active"]
    form_overrides = {"domains": LinesField}
    form_args = {"domains": {"description": _l("One address per line, e.g. https://shop.example.com")}}

    def on_model_change(self, form, model: Site, is_created: bool):
        model.domains = sites.clean_domains(model.domains or [])
        if is_created:
            model.public_key = sites.new_public_key()


class DepartmentView(AccountScopedView):
    column_list = ["name", "account"]
    column_searchable_list = ["name"]
    column_labels = {"name": _l("Name"), "account": _l("Account")}
    form_columns = ["account", "name"]


class ManagerLineView(AccountScopedView):
    scoped_relations = ("department", "sites")
    column_list = ["manager_name", "kind", "number", "extension", "department", "account", "is_active"]
    column_searchable_list = ["manager_name", "number"]
    column_filters = ["kind", "is_active"]
    column_labels = {"manager_name": _l("Manager"), "kind": _l("Type"), "country": _l("Country"),
                     "number": _l("Number"), "extension": _l("Extension"), "department": _l("Department"),
                     "account": _l("Account"), "is_active": _l("Active"),
                     "is_name_in_sms": _l("Manager's name in the SMS to the client"),
                     "is_routed_by_department": _l("Route calls by department"),
                     "is_for_all_sites": _l("For all sites"), "sites": _l("Only for these sites")}
    form_columns = ["account", "kind", "country", "number", "extension", "is_active", "manager_name",
                    "department", "is_name_in_sms", "is_routed_by_department", "is_for_all_sites", "sites"]
    form_overrides = {"kind": SelectField}
    form_args = {"kind": {"choices": [SelectChoice("phone", _l("Phone")), SelectChoice("sip", "SIP")]}}

    def on_model_change(self, form, model: ManagerLine, is_created: bool):
        try:
            check_line(model)
        except LineError as exc:
            getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, str(exc)]
            raise ValidationError(str(exc)) from exc


class BlacklistView(AccountScopedView):
    """An account's blacklist."""

    column_list = ["kind", "value", "note", "account", "created_at"]
    column_searchable_list = ["value"]
    column_filters = ["kind"]
    column_labels = {"kind": _l("Type"), "value": _l("Number or IP address"), "note": _l("Note"),
                     "account": _l("Account"), "created_at": _l("Added")}
    form_columns = ["account", "kind", "value", "note"]
    form_overrides = {"kind": SelectField}
    form_args = {"kind": {"choices": [SelectChoice("number", _l("Phone number")),
                                      SelectChoice("ip", _l("IP address"))]}}

    def get_query(self):
        return super().get_query().filter(BlacklistEntry.account_id.isnot(None))

    def get_count_query(self):
        return super().get_count_query().filter(BlacklistEntry.account_id.isnot(None))

    def get_one(self, id):
        entry = super().get_one(id)
        return entry if entry is not None and entry.account_id is not None else None

    def on_model_change(self, form, model: BlacklistEntry, is_created: bool):
        if "account" in form and model.account is None:
            raise ValidationError(str(_l("Choose the account.")))
        try:
            model.value = blacklist.normalise(model.kind, model.value)
        except blacklist.BlacklistError as exc:
            form.value.errors = [*form.value.errors, str(exc)]
            raise ValidationError(str(exc)) from exc


class GlobalBlacklistView(BlacklistView):
    """Numbers and addresses no account's widget calls back; administrators only."""

    permission_key = "backoffice.admin"
    column_list = ["kind", "value", "note", "created_at"]
    form_columns = ["kind", "value", "note"]

    def get_query(self):
        return db.session.query(BlacklistEntry).filter(BlacklistEntry.account_id.is_(None))

    def get_count_query(self):
        return db.session.query(db.func.count(BlacklistEntry.id)).filter(BlacklistEntry.account_id.is_(None))

    def get_one(self, id):
        entry = db.session.get(BlacklistEntry, id)
        return entry if entry is not None and entry.account_id is None else None

    def edit_form(self, obj=None):
        return SecureModelView.edit_form(self, obj)

    def create_form(self, obj=None):
        return SecureModelView.create_form(self, obj)


def register(admin) -> None:
    category = _l("Sites and calls")
    admin.add_view(SiteView(Site, name=_l("Sites"), endpoint="sites", category=category))
    admin.add_view(ManagerLineView(ManagerLine, name=_l("Manager lines"), endpoint="lines", category=category))
    admin.add_view(DepartmentView(Department, name=_l("Departments"), endpoint="departments", category=category))
    admin.add_view(BlacklistView(BlacklistEntry, name=_l("Blacklists"), endpoint="blacklist", category=category))
    admin.add_view(GlobalBlacklistView(BlacklistEntry, name=_l("Global blacklist"), endpoint="global_blacklist",
                                       category=category))
