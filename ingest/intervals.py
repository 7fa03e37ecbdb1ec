"""The business day a run covers, from its logical date.

Scheduled runs use a daily data-interval timetable, so the logical date is the start of
the day being loaded; manual runs (`crm run --date D`, `airflow dags test DAG D`) load day
D. Either way the logical date decides what is extracted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def business_day(logical_date: datetime | date) -> tuple[datetime, datetime]:
    """[start, end) of the UTC calendar day of ``logical_date``."""
    day = logical_date.date() if isinstance(logical_date, datetime) else logical_date
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def month_start(logical_date: datetime | date) -> date:
    """First day of the month of ``logical_date`` (the as-of month of monthly labels)."""
    day = logical_date.date() if isinstance(logical_date, datetime) else logical_date
    return day.replace(day=1)
