"""Reading and resetting the ingestion record: batches, quarantine, watermarks, raw tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from ingest.config import ConfigError, identifier
from warehouse.db import connect


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    target_table: str
    interval_start: datetime
    status: str
    rows_received: int | None
    rows_loaded: int | None
    rows_quarantined: int | None
    message: str | None


def recent_batches(
    warehouse_url: str, target: str | None = None, limit: int = 30
) -> list[BatchRow]:
    """The latest batches, newest first (optionally of one raw table)."""
    with connect(warehouse_url) as conn:
        rows = conn.execute(
            "select batch_id, target_table, interval_start, status, rows_received, rows_loaded,"
            " rows_quarantined, message from ops.load_batches"
            " where %(target)s::text is null or target_table = %(target)s"
            " order by batch_id desc limit %(limit)s",
            {"target": target, "limit": limit},
        ).fetchall()
    return [BatchRow(*row) for row in rows]


def quarantine_summary(
    warehouse_url: str, batch_id: int | None = None
) -> list[tuple[str, str, str, int, str]]:
    """(target, source object, rule, rows, an example message) per rule, largest first."""
    with connect(warehouse_url) as conn:
        return conn.execute(
            "select target_table, source_object, rule, count(*),"
            " min(coalesce('row ' || row_number || ': ', '') || message)"
            " from quarantine.rejected_rows where %(batch)s::bigint is null or batch_id = %(batch)s"
            " group by 1, 2, 3 order by 4 desc, 1, 2, 3",
            {"batch": batch_id},
        ).fetchall()


def reset_target(warehouse_url: str, raw_table: str) -> dict[str, int]:
    """Forget one raw table entirely (table, batches, quarantine, watermark) to reload it."""
    name = raw_table.removeprefix("raw.")
    try:
        identifier(name, "raw table")
    except ConfigError as exc:
        raise ConfigError(f"{raw_table}: {exc}") from None
    target = f"raw.{name}"
    with connect(warehouse_url) as conn:
        batches = [
            r[0]
            for r in conn.execute(
                "select batch_id from ops.load_batches where target_table = %s", (target,)
            )
        ]
        rejected = conn.execute(
            "delete from quarantine.rejected_rows where batch_id = any(%s)", (batches,)
        ).rowcount
        conn.execute("delete from ops.extract_checkpoints where target_table = %s", (target,))
        watermarks = conn.execute(
            "delete from ops.watermarks where batch_id = any(%s)", (batches,)
        ).rowcount
        conn.execute("delete from ops.load_batches where batch_id = any(%s)", (batches,))
        conn.execute(sql.SQL("drop table if exists raw.{}").format(sql.Identifier(name)))
    return {"batches": len(batches), "quarantined_rows": rejected, "watermarks": watermarks}
