"""All tables, imported here so Alembic and the app see one metadata."""
from app.models.access import AccountPermission, AuditLog
from app.models.account import Account, Role, Site, User
from app.models.billing import RentPeriod, Tariff, TariffRate
from app.models.callback import (
    CallbackRequest,
    ConsentRecord,
    ConsentText,
    LimitHit,
    RequestStatus,
    WidgetEventCount,
)
from app.models.fraud import NumberBlock
from app.models.lease import TaskLease
from app.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from app.models.notification import Notification, NotificationPreference
from app.models.payment import Autopay, CompanyDetails, Invoice, Payment, PaymentCard, Refund
from app.models.setting import Setting
from app.models.site_setup import BlacklistEntry, Department, ManagerLine, SettingsDocument, manager_line_site
from app.models.stats import StatsHour, StatsRollupMark, StatsSourceHour, StatsSpeedDay, StatsSpeedHour, StatsSpendHour
from app.models.telephony import (
    CallAttempt,
    CallRecord,
    DialerTransition,
    ProviderEvent,
    ProviderPrompt,
    SmsMessage,
)

__all__ = [
    "NumberBlock", "TaskLease", "StatsHour", "StatsRollupMark", "StatsSourceHour", "StatsSpeedDay", "StatsSpeedHour",
    "StatsSpendHour",
    "AccountPermission", "AuditLog",
    "BlacklistEntry", "Department", "ManagerLine", "SettingsDocument", "manager_line_site",
    "Account", "Role", "Site", "User",
    "RentPeriod", "Tariff", "TariffRate",
    "CallbackRequest", "ConsentRecord", "ConsentText", "LimitHit", "RequestStatus", "WidgetEventCount",
    "LedgerAccount", "LedgerEntry", "LedgerTransaction",
    "Notification", "NotificationPreference", "Setting",
    "Autopay", "CompanyDetails", "Invoice", "Payment", "PaymentCard", "Refund",
    "CallAttempt", "CallRecord", "DialerTransition", "ProviderEvent", "ProviderPrompt", "SmsMessage",
]
