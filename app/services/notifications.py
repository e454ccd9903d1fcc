"""The notification catalogue (N1–N6), each account's preferences and the administrator's locks, and `notify`.

Where a preference comes from, first match wins:
1. an always-sent kind (welcome, password changed, password reset) is on, instant and locked;
2. a row of `notification_preference` locked for this account (`locked_by_admin` true): that row's values;
3. a kind locked globally (GlobalSettings.notification_defaults, unless the row opens it with
   `locked_by_admin` false): the global default;
4. the account's row (the client's choice);
5. the global default (GlobalSettings.notification_defaults, else the catalogue's).

`notify` queues e-mail only; SMS kinds (quality reports) are gated by their caller with `preference`. The SMS
to the visitor after a call (`call_followup`) is not an account preference: it is a site setting
(`is_sms_after_call`) because its recipient is the visitor, not the account.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from app.extensions import db
from app.models import Account, Notification, NotificationPreference, Role, User
from app.services import DomainError

FREQUENCIES = ("instant", "daily", "weekly")
Frequency = Literal["instant", "daily", "weekly"]
FREQUENCY_LABELS = {"instant": _l("At once"), "daily": _l("Daily"), "weekly": _l("Weekly")}
UNSUBSCRIBE_SALT = "notifications"


@dataclass(frozen=True)
class Kind:
    """One kind of notification. `default_on`, `default_frequency`, `locked_by_default` are the catalogue's
    defaults; the administrator's global defaults (GlobalSettings.notification_defaults) take their place."""

    key: str
    channel: Literal["email", "sms"]
    label: LazyString
    default_on: bool = True
    frequencies: tuple[str, ...] = ("instant",)
    default_frequency: str = "instant"
    locked_by_default: bool = False
    is_client_visible: bool = True
    is_always_sent: bool = False

    @property
    def is_switchable(self) -> bool:
        """Has a preference at all: neither always sent nor governed elsewhere (a site setting)."""
        return not self.is_always_sent and self.is_client_visible


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {kind.key: kind for kind in kinds}


CATALOGUE: dict[str, Kind] = _kinds(
    Kind("welcome", "email", _l("Registration"), is_always_sent=True),  # N2
    Kind("password_changed", "email", _l("Password changed"), is_always_sent=True),  # N2
    Kind("password_reset", "email", _l("Password reset"), is_always_sent=True),
    Kind("topup", "email", _l("Top-up of the balance"), locked_by_default=True),  # N5
    Kind("spending", "email", _l("Spending on calls and SMS"), frequencies=FREQUENCIES,
         default_frequency="daily"),
    # N3: sent daily while the balance stays below the threshold; the frequency is the rule, not a choice.
    Kind("low_balance", "email", _l("Low balance"), frequencies=("daily",), default_frequency="daily"),
    # N4: daily from `rent_warning_days` before the block.
    Kind("rent_ending", "email", _l("End of rent"), frequencies=("daily",), default_frequency="daily",
         locked_by_default=True),
    Kind("rent_expired", "email", _l("Rent expired")),
    Kind("rent_renewed", "email", _l("Rent renewed")),
    Kind("missed_call", "email", _l("Missed call")),  # D12
    Kind("passive_request", "email", _l("Request received in passive mode")),  # D14
    Kind("quality_report", "sms", _l("SMS report on each call")),  # D11
    # D10: to the visitor, switched by the site setting `is_sms_after_call`.
    Kind("call_followup", "sms", _l("SMS to the visitor after the call"), is_client_visible=False),
    Kind("invoice_issued", "email", _l("Invoice issued")),
    Kind("invoice_paid", "email", _l("Invoice paid")),
    # X1: the hourly spend cap paused the account's dialing; on and locked unless the administrator opens it.
    Kind("dialing_paused", "email", _l("Dialing paused: hourly spend cap reached"), locked_by_default=True),
    # X1: the same pause told to the service (`service_alert_email`); not an account preference.
    Kind("dialing_paused_service", "email", _l("Service alert: an account's dialing paused"),
         is_client_visible=False),
)


@dataclass(frozen=True)
class Preference:
    enabled: bool
    frequency: str
    locked: bool


class PreferenceLocked(DomainError):
    code = "notification_locked"


class UnknownKind(DomainError):
    code = "notification_unknown"


def kind_of(key: str) -> Kind:
    try:
        return CATALOGUE[key]
    except KeyError:
        raise UnknownKind(str(_l("Unknown kind of notification “%(kind)s”.", kind=key))) from None


def switchable_kinds() -> list[Kind]:
    """The kinds a preference page lists, in catalogue order."""
    return [kind for kind in CATALOGUE.values() if kind.is_switchable]


def global_default(key: str) -> Preference:
    """The administrator's default for a kind (GlobalSettings.notification_defaults), else the catalogue's."""
    from app.services.settings import get_settings

    kind = kind_of(key)
    if kind.is_always_sent:
        return Preference(True, "instant", True)
    stored = getattr(get_settings().notification_defaults, key, None)
    if stored is None:
        return Preference(kind.default_on, kind.default_frequency, kind.locked_by_default)
    return Preference(stored.enabled, _valid_frequency(kind, stored.frequency), stored.locked)


def _valid_frequency(kind: Kind, frequency: str | None) -> str:
    return frequency if frequency in kind.frequencies else kind.default_frequency


def _row(account_id: int, key: str) -> NotificationPreference | None:
    return db.session.scalar(sa.select(NotificationPreference).where(
        NotificationPreference.account_id == account_id, NotificationPreference.kind == key))


def preference(account_id: int, kind: str) -> Preference:
    """What applies to this account and kind now (see the module's docstring for the order)."""
    spec = kind_of(kind)
    default = global_default(kind)
    if spec.is_always_sent:
        return default
    row = _row(account_id, kind)
    if row is None:
        return default
    if row.locked_by_admin:
        return Preference(row.enabled, _valid_frequency(spec, row.frequency), True)
    if default.locked and row.locked_by_admin is None:
        return default
    return Preference(row.enabled, _valid_frequency(spec, row.frequency), False)


def preferences(account_id: int) -> dict[str, Preference]:
    """Every switchable kind's preference for the account (for the preference pages)."""
    return {kind.key: preference(account_id, kind.key) for kind in switchable_kinds()}


def set_preference(account_id: int, kind: str, *, enabled: bool, frequency: str | None = None) -> Preference:
    """The client's choice; PreferenceLocked for a locked or always-sent kind (nothing is saved)."""
    spec = kind_of(kind)
    current = preference(account_id, kind)
    if current.locked or not spec.is_switchable:
        raise PreferenceLocked(str(_l("“%(kind)s” is set by the administrator and cannot be changed here.",
                                      kind=spec.label)))
    row = _row(account_id, kind) or _new_row(account_id, kind)
    row.enabled = bool(enabled)
    row.frequency = _valid_frequency(spec, frequency or current.frequency)
    db.session.flush()
    return preference(account_id, kind)


def set_admin_override(account_id: int, kind: str, *, locked: bool | None, enabled: bool | None = None,
                       frequency: str | None = None) -> Preference:
    """The back office's per-account value and lock: `locked` True locks the kind for this account at the
    values given, False opens a globally locked kind to the client, None follows the global lock."""
    spec = kind_of(kind)
    if not spec.is_switchable:
        raise PreferenceLocked(str(_l("“%(kind)s” is always sent.", kind=spec.label)))
    current = preference(account_id, kind)
    row = _row(account_id, kind) or _new_row(account_id, kind)
    row.locked_by_admin = locked
    row.enabled = current.enabled if enabled is None else bool(enabled)
    row.frequency = _valid_frequency(spec, frequency or current.frequency)
    db.session.flush()
    return preference(account_id, kind)


def admin_rows(account_id: int) -> list[NotificationPreference]:
    """The account's stored rows (its choices and the administrator's locks), for the back office."""
    return list(db.session.scalars(sa.select(NotificationPreference)
                                   .where(NotificationPreference.account_id == account_id)
                                   .order_by(NotificationPreference.kind)))


def _new_row(account_id: int, kind: str) -> NotificationPreference:
    default = global_default(kind)
    row = NotificationPreference(account_id=account_id, kind=kind, enabled=default.enabled,
                                 frequency=default.frequency)
    db.session.add(row)
    return row


# --- N3: the low-balance threshold ------------------------------------------------------------------------------

def low_balance_threshold_kop(account_id: int) -> int:
    """The account's threshold for the low-balance notice; the global default (150 RUB) unless it set one."""
    from app.services.settings import get_settings

    row = _row(account_id, "low_balance")
    if row is not None and row.threshold_kop is not None:
        return row.threshold_kop
    return get_settings().low_balance_threshold_kop


def own_low_balance_threshold_kop(account_id: int) -> int | None:
    """The threshold the account set itself; None when it follows the global default."""
    row = _row(account_id, "low_balance")
    return row.threshold_kop if row is not None else None


def set_low_balance_threshold_kop(account_id: int, threshold_kop: int | None, *, is_admin: bool = False) -> int:
    """The account's threshold (None: back to the default); refused while the low-balance kind is locked,
    unless an administrator sets it."""
    if threshold_kop is not None and not 0 <= threshold_kop <= 100_000_000:
        raise DomainError(str(_l("The threshold must be between 0 and 1 000 000 roubles.")),
                          code="threshold_out_of_range")
    if not is_admin and preference(account_id, "low_balance").locked:
        raise PreferenceLocked(str(_l("“%(kind)s” is set by the administrator and cannot be changed here.",
                                      kind=CATALOGUE["low_balance"].label)))
    row = _row(account_id, "low_balance") or _new_row(account_id, "low_balance")
    row.threshold_kop = threshold_kop
    db.session.flush()
    return low_balance_threshold_kop(account_id)


# --- sending ----------------------------------------------------------------------------------------------------

def owner_email(account_id: int) -> str | None:
    """The account's first active client user: the owner who signed up."""
    return db.session.scalar(sa.select(User.email).where(User.account_id == account_id, User.role == Role.CLIENT.value,
                                                         User.is_active.is_(True))
                             .order_by(User.id).limit(1))


def notify(account_id: int, kind: str, context: dict, *, dedup_key: str | None, at=None,
           frequency: str = "instant", recipient: str | None = None) -> Notification | None:
    """Queue the e-mail `templates/email/<kind>.*` to the account's owner (or `recipient`) in the account's
    locale, if the account's preference lets it; None when it is off, deduplicated or has no recipient.

    `frequency` is this call's cadence: "instant" for an event as it happens, "daily" or "weekly" for a digest
    or a daily check. It is sent only when it is the account's chosen frequency; a kind with a single frequency
    (low_balance, rent_ending: "daily") takes any call. `at` (the event's time) goes into the context as `at`
    unless the context has one. The template's context gets `preferences_url` and, for a switchable kind,
    `unsubscribe_url`. Flushes, never commits.
    """
    from app.services import outbox

    spec = kind_of(kind)
    if spec.channel != "email":
        raise UnknownKind(f"{kind} is not an e-mail")
    current = preference(account_id, kind)
    if not current.enabled:
        return None
    if len(spec.frequencies) > 1 and current.frequency != frequency:
        return None
    recipient = recipient or owner_email(account_id)
    if recipient is None:
        return None
    locale = db.session.scalar(sa.select(Account.locale).where(Account.id == account_id)) or "ru"
    context = {**context, **links(account_id, kind)}
    if at is not None:
        context.setdefault("at", at)
    return outbox.queue_email(kind, recipient, context, locale=locale, account_id=account_id, dedup_key=dedup_key)


def links(account_id: int, kind: str) -> dict[str, str]:
    """`preferences_url` (the cabinet page) and, for a kind the client may switch off, `unsubscribe_url`."""
    from app.urls import external_url

    found = {"preferences_url": external_url("portal.notifications_page")}
    if CATALOGUE[kind].is_switchable:
        found["unsubscribe_url"] = external_url("notifications.unsubscribe", token=unsubscribe_token(account_id, kind))
    return found


# --- unsubscribe links ------------------------------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(account_id: int, kind: str) -> str:
    return _serializer().dumps({"a": account_id, "k": kind})


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(account_id, kind) a token names, or None for a tampered token, a foreign one or an unknown kind."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    account_id, kind = data.get("a"), data.get("k")
    if not isinstance(account_id, int) or kind not in CATALOGUE or db.session.get(Account, account_id) is None:
        return None
    return account_id, kind
