"""Every task module, imported so a consumer registers all task names."""
from dialer.tasks import billing, dialing, limits, mail, notify, reconcile, stats, telephony  # noqa: F401
