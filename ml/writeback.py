"""Writing a model run and its labels back to the warehouse's `ml` schema.

Every run is a row of `ml.model_runs` (model, version, parameters, training window,
metrics, data fingerprint). Labels are keyed by (customer or account, as-of month, model
version): writing a month replaces that month's rows for that version, in the same
transaction as the run's record, so a re-run never duplicates and a failed run leaves the
previous labels in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg.types.range import Range

from ml.monitoring import Alert


def start_run(
    conn: psycopg.Connection,
    model_name: str,
    model_version: str,
    as_of_month: date,
    params: dict[str, Any],
    data_fingerprint: str,
    training_window: tuple[date, date] | None = None,
) -> int:
    """Record a run (unfinished until ``finish_run``); its id keys the labels it writes."""
    window = None
    if training_window is not None:
        window = Range(training_window[0], training_window[1], "[]")
    row = conn.execute(
        "insert into ml.model_runs (model_name, model_version, as_of_month, params,"
        " training_window, data_fingerprint) values (%s, %s, %s, %s, %s, %s)"
        " returning model_run_id",
        (model_name, model_version, as_of_month, Jsonb(params), window, data_fingerprint),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_run(
    conn: psycopg.Connection, run_id: int, metrics: dict[str, Any], rows_scored: int
) -> None:
    conn.execute(
        "update ml.model_runs set metrics = %s, rows_scored = %s, finished_at = now()"
        " where model_run_id = %s",
        (Jsonb(metrics), rows_scored, run_id),
    )


def replace_labels(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    as_of_month: date,
    model_version: str,
) -> int:
    """Replace ``ml.<table>``'s rows of (as_of_month, model_version) with ``rows``."""
    target = sql.Identifier("ml", table)
    conn.execute(
        sql.SQL("delete from {} where as_of_month = %s and model_version = %s").format(target),
        (as_of_month, model_version),
    )
    written = 0
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def record_checks(
    conn: psycopg.Connection,
    run_id: int,
    values: dict[tuple[str, str], tuple[float, float]],
    alerts: Sequence[Alert],
) -> None:
    """Monitoring values of a run ((check, subject) -> (value, limit)) and which alert."""
    alerting = {(a.check, a.subject) for a in alerts}
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ml.monitoring (model_run_id, check_name, subject, metric_value,"
            " alert_limit, is_alert) values (%s, %s, %s, %s, %s, %s)"
            " on conflict (model_run_id, check_name, subject) do update set"
            " metric_value = excluded.metric_value, alert_limit = excluded.alert_limit,"
            " is_alert = excluded.is_alert",
            [
                (run_id, check, subject, float(value), float(limit), (check, subject) in alerting)
                for (check, subject), (value, limit) in values.items()
            ],
        )
