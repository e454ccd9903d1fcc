"""Per-account openings of feature keys: managers open what the administrator lets them."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, ValidationError
from wtforms.fields.choices import SelectChoice

from admin.base import SecureModelView
from app.models import AccountPermission
from app.services import permissions


def _key_label(view, context, model, name) -> str:
    return f"{permissions.FEATURES.get(model.key, model.key)} ({model.key})"


class AccountPermissionView(SecureModelView):
    permission_key = "backoffice.accounts"
    column_list = ["account", "key", "is_granted", "updated_at"]
    column_filters = ["key", "is_granted"]
    column_labels = {"account": _l("Account"), "key": _l("Feature"), "is_granted": _l("Open"),
                     "updated_at": _l("Changed")}
    column_formatters = {"key": _key_label}
    form_columns = ["account", "key", "is_granted"]
    form_overrides = {"key": SelectField}

    def create_form(self, obj=None):
        return self._with_openable_keys(super().create_form(obj))

    def edit_form(self, obj=None):
        form = self._with_openable_keys(super().edit_form(obj))
        del form.account
        return form

    @staticmethod
    def _with_openable_keys(form):
        form.key.choices = [SelectChoice(k, str(permissions.FEATURES[k])) for k in sorted(permissions.openable_keys())]
        return form

    def on_model_change(self, form, model: AccountPermission, is_created: bool):
        if model.key not in permissions.openable_keys():
            raise ValidationError(str(_l("The administrator has not allowed opening this feature.")))


def register(admin) -> None:
    admin.add_view(AccountPermissionView(AccountPermission, name=_l("Opened features"), endpoint="openings",
                                         category=_l("Clients")))
