"""The cabinet statistics' rollup (issue 9 part 6, docs/stats.md): finished requests counted per UTC hour.

A request is added here once, by `app.services.stats_rollup`, in the transaction that sets its
`callback_request.rolled_up`; the statistics read whole hours from these tables and everything else (the
partial hours at a period's edges, requests not rolled up yet) from `callback_request` itself.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class StatsHour(db.Model):
    """Requests in a final status per account, site, UTC hour, status and outcome ("" for none), with their talk
    seconds."""

    __tablename__ = "stats_hour"
    __table_args__ = (sa.UniqueConstraint("account_id", "hour", "site_id", "status", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    hour: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(sa.String(20))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    requests: Mapped[int] = mapped_column(sa.BigInteger)
    talk_s: Mapped[int] = mapped_column(sa.BigInteger)


class StatsSourceHour(db.Model):
    """Requests in a final status per account, site, UTC hour and traffic source ("" for none): a table of its
    own so that neither this nor `stats_hour` multiplies its rows by the other's dimensions."""

    __tablename__ = "stats_source_hour"
    __table_args__ = (sa.UniqueConstraint("account_id", "hour", "site_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    hour: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(sa.String(16))
    requests: Mapped[int] = mapped_column(sa.BigInteger)


class StatsSpeedHour(db.Model):
    """A histogram of speed to connect (whole seconds, floored) per account, site, answering line (0: none
    recorded) and UTC hour of the request's creation: `requests` requests connected in `second` seconds."""

    __tablename__ = "stats_speed_hour"
    __table_args__ = (sa.UniqueConstraint("account_id", "hour", "site_id", "line_id", "second"),
                      sa.Index("ix_stats_speed_hour_hour", "hour"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int]  # no foreign key: a deleted line's history stays, read as "no line"
    hour: Mapped[dt.datetime]
    second: Mapped[int]
    requests: Mapped[int] = mapped_column(sa.BigInteger)


class StatsSpeedDay(db.Model):
    """The same histogram as `stats_speed_hour` per UTC day: a month reads ~30 days of it, not ~720 hours."""

    __tablename__ = "stats_speed_day"
    __table_args__ = (sa.UniqueConstraint("account_id", "day", "site_id", "line_id", "second"),
                      sa.Index("ix_stats_speed_day_day", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int]
    day: Mapped[dt.date]
    second: Mapped[int]
    requests: Mapped[int] = mapped_column(sa.BigInteger)


class StatsSpendHour(db.Model):
    """Call and SMS spend per client account, UTC hour and transaction kind, in kopecks (positive: debited),
    from the ledger transactions created before `stats_rollup_mark` "spend" (app.services.stats_rollup)."""

    __tablename__ = "stats_spend_hour"
    __table_args__ = (sa.UniqueConstraint("account_id", "hour", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    hour: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(sa.String(32))
    amount_kop: Mapped[int] = mapped_column(sa.BigInteger)


class StatsRollupMark(db.Model):
    """How far an append-only source has been rolled up: "spend" = every ledger transaction created before `until`."""

    __tablename__ = "stats_rollup_mark"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    until: Mapped[dt.datetime]
