"""The back office on Flask-Admin: `init_admin(app)` builds a fresh Admin for each app."""
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin import (
    access,
    accounts,
    adjustments,
    blocks,
    invoices,
    journal,
    notifications,
    payments,
    requests,
    settings_views,
    sites,
    tariffs,
)
from admin.base import SecureIndexView
from admin.mail import MailCatcherView


def init_admin(app) -> Admin:
    admin = Admin(app, name="CallBack", index_view=SecureIndexView(), theme=Bootstrap4Theme())
    accounts.register(admin)
    adjustments.register(admin)
    payments.register(admin)
    invoices.register(admin)
    access.register(admin)
    sites.register(admin)
    requests.register(admin)  # in the sites' category, after them
    blocks.register(admin)
    journal.register(admin)
    tariffs.register(admin)
    settings_views.register(admin)
    notifications.register(admin)
    admin.add_view(MailCatcherView(name=_l("Mail received"), endpoint="mailbox", url="mailbox"))
    return admin
