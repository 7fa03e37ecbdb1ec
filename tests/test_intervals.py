from datetime import UTC, date, datetime, timedelta, timezone

from ingest.intervals import business_day, month_start


def test_business_day_is_the_utc_calendar_day_of_the_logical_date() -> None:
    start, end = business_day(datetime(2026, 1, 31, 17, 45, tzinfo=UTC))
    assert start == datetime(2026, 1, 31, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    assert business_day(date(2026, 2, 28))[1] == datetime(2026, 3, 1, tzinfo=UTC)


def test_month_start() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert month_start(datetime(2026, 3, 31, 23, 0, tzinfo=shanghai)) == date(2026, 3, 1)
    assert month_start(date(2024, 2, 29)) == date(2024, 2, 1)
