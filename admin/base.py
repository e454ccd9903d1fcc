"""The one access rule of the back office: staff only; clients get 403, strangers the login page."""
import sqlalchemy as sa
from flask import abort, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_login import current_user
from flask_principal import Permission, RoleNeed

from app.extensions import db
from app.models import Account, Notification

staff_permission = Permission(RoleNeed("admin"), RoleNeed("manager"))
admin_permission = Permission(RoleNeed("admin"))


class SecureMixin:
    """Mixed into every back-office view; `permission` narrows who may open it."""

    permission = staff_permission

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and self.permission.can()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class SecureIndexView(SecureMixin, AdminIndexView):
    @expose("/")
    def index(self):
        statuses = dict(db.session.execute(
            sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
        counts = {"accounts": db.session.scalar(sa.select(sa.func.count()).select_from(Account)),
                  "pending": statuses.get("pending", 0) + statuses.get("sending", 0),
                  "failed": statuses.get("failed", 0)}
        return self.render("admin/index.html", counts=counts)


class SecureBaseView(SecureMixin, BaseView):
    pass
