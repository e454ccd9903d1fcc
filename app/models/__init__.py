"""All tables, imported here so Alembic and the app see one metadata."""
from app.models.account import Account, Role, Site, User
from app.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from app.models.notification import Notification
from app.models.setting import Setting

__all__ = [
    "Account", "Role", "Site", "User",
    "LedgerAccount", "LedgerEntry", "LedgerTransaction",
    "Notification", "Setting",
]
