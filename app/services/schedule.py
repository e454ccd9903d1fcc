"""Working hours in the site's time zone (D8, W12): is the sales department open, and which slots can be booked."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from app.services.site_settings import DayHours, SiteSettings

SLOT_MINUTES = 30
SLOT_DAYS = 7
MAX_SLOTS = 48
LEAD_MINUTES = 15  # a booked slot starts at least this far ahead, so the call is not already due


def _day(settings: SiteSettings, day: dt.date) -> DayHours:
    return getattr(settings.schedule, ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()])


def _hours(settings: SiteSettings, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """The day's opening and closing as aware local times, or None on a day off."""
    hours = _day(settings, day)
    if not hours.is_open:
        return None
    zone = zoneinfo.ZoneInfo(settings.timezone)
    opens = dt.datetime.combine(day, hours.opens_at, zone)
    if hours.opens_at == hours.closes_at == dt.time(0, 0):
        return opens, opens + dt.timedelta(days=1)
    return opens, dt.datetime.combine(day, hours.closes_at, zone)


def is_open(settings: SiteSettings, at: dt.datetime) -> bool:
    local = at.astimezone(zoneinfo.ZoneInfo(settings.timezone))
    hours = _hours(settings, local.date())
    return hours is not None and hours[0] <= local < hours[1]


def slots(settings: SiteSettings, now: dt.datetime) -> list[dt.datetime]:
    """Bookable call times (starts of half-hour slots) in working hours over the next week, soonest first."""
    zone = zoneinfo.ZoneInfo(settings.timezone)
    earliest = now.astimezone(zone) + dt.timedelta(minutes=LEAD_MINUTES)
    found: list[dt.datetime] = []
    for offset in range(SLOT_DAYS + 1):
        hours = _hours(settings, earliest.date() + dt.timedelta(days=offset))
        start = hours[0] if hours else None
        while hours and start < hours[1] and len(found) < MAX_SLOTS:
            if start >= earliest:
                found.append(start)
            start += dt.timedelta(minutes=SLOT_MINUTES)
    return found


def is_bookable(settings: SiteSettings, at: dt.datetime, now: dt.datetime) -> bool:
    """A time the visitor may choose: in working hours, not in the past, within the booking horizon."""
    horizon = now + dt.timedelta(days=SLOT_DAYS + 1)
    return now <= at <= horizon and is_open(settings, at)


def next_opening(settings: SiteSettings, at: dt.datetime) -> dt.datetime | None:
    """The first moment from `at` on when the site is open, in UTC (`at` itself when open then); None when the
    schedule has no working hours in the next week (D8: a delayed call waits for the opening, never at night)."""
    zone = zoneinfo.ZoneInfo(settings.timezone)
    local = at.astimezone(zone)
    for offset in range(SLOT_DAYS + 1):
        hours = _hours(settings, local.date() + dt.timedelta(days=offset))
        if hours is not None and local < hours[1]:
            return max(hours[0], local).astimezone(dt.UTC)
    return None
