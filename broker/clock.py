"""Time as the broker reckons it: one injectable clock, and the Dutch calendar.

Rules this module guarantees:

- :data:`Clock` is the one source of "now" a service sees (through its unit of work); the
  embedded default and production use :func:`utcnow`, tests a clock they move by hand.
- Periods (involvement end dates, the daily quota, history) are calendar dates as Dutch
  professionals see them: :data:`LOCAL_ZONE`, Europe/Amsterdam, summer time included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC (the wall clock)."""
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    """The Dutch calendar date of ``moment``."""
    return moment.astimezone(LOCAL_ZONE).date()


def local_time(moment: datetime) -> str:
    """``moment`` as Dutch local time to the minute, ``2026-03-02 13:00``."""
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")
