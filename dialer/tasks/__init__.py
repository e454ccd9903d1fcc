"""Every task module, imported so a consumer registers all task names."""
from dialer.tasks import billing, limits, mail, telephony  # noqa: F401
