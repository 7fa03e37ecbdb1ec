"""HTTP APIs: pages fetched with the cursor, kept as checkpoints, loaded in one batch.

Every fetched page is committed to ``ops.extract_checkpoints`` (its own transaction) before
it is used, so a run that dies half-way resumes from the last cursor instead of paging
from the start; the pages leave the table in the same transaction that commits the batch.
The watermark window becomes ``updated_since``; rows the API returns from after the
interval belong to a later interval and are left for it (counted in the log).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from ingest.config import EntityContract
from ingest.http_client import ApiConnection, Page, PagedApiClient
from ingest.landing import FUTURE_GRACE, RAW_CONTENT_LIMIT, Batch, LoadResult, Rejected, open_batch
from ingest.rows import RowChecker
from ingest.window import extraction_window
from warehouse.db import connect
from warehouse.log import Progress, get_logger

log = get_logger("ingest.http_extract")


class _Checkpoints:
    """Pages of one (target, interval) extraction, persisted as they arrive."""

    def __init__(self, warehouse_url: str, batch: Batch) -> None:
        self.url = warehouse_url
        self.key = (batch.target_name, batch.interval_start, batch.interval_end)

    def stored(self) -> Iterator[tuple[int, str | None, list[dict]]]:
        with connect(self.url, autocommit=True) as conn:
            numbers = [
                r[0]
                for r in conn.execute(
                    "select page_number from ops.extract_checkpoints where target_table = %s"
                    " and interval_start = %s and interval_end = %s order by page_number",
                    self.key,
                )
            ]
            for number in numbers:
                next_cursor, rows = conn.execute(
                    "select next_cursor, rows from ops.extract_checkpoints where target_table = %s"
                    " and interval_start = %s and interval_end = %s and page_number = %s",
                    (*self.key, number),
                ).fetchone()
                yield number, next_cursor, rows

    def save(self, page: Page, number: int) -> None:
        with connect(self.url, autocommit=True) as conn:
            conn.execute(
                "insert into ops.extract_checkpoints (target_table, interval_start, interval_end,"
                " page_number, page_cursor, next_cursor, rows) values (%s, %s, %s, %s, %s, %s, %s)"
                " on conflict (target_table, interval_start, interval_end, page_number) do update"
                " set page_cursor = excluded.page_cursor, next_cursor = excluded.next_cursor,"
                " rows = excluded.rows, fetched_at = now()",
                (
                    *self.key,
                    number,
                    page.cursor,
                    page.next_cursor,
                    json.dumps(page.rows, ensure_ascii=False),
                ),
            )

    def discard_in(self, batch: Batch) -> None:
        """Drop the pages within the batch transaction: gone only if the batch commits."""
        batch.conn.execute(
            "delete from ops.extract_checkpoints where target_table = %s"
            " and interval_start = %s and interval_end = %s",
            self.key,
        )


def _since(lower: datetime | None) -> dict[str, str]:
    # The API's updated_since is exclusive; the window's lower bound is inclusive.
    return (
        {} if lower is None else {"updated_since": (lower - timedelta(microseconds=1)).isoformat()}
    )


def load_http(
    entity: EntityContract,
    connection: ApiConnection,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
    client_factory: Callable[[ApiConnection], PagedApiClient] = PagedApiClient,
    page_hook: Callable[[int], None] | None = None,
) -> LoadResult:
    """Load one API entity's interval into raw; ``page_hook`` sees each saved page (tests)."""
    path = entity.source_object
    source_tag = f"{entity.system}:{path}"
    page_size = str(entity.options.get("page_size") or entity.system_options.get("page_size", 500))
    with open_batch(warehouse_url, entity, interval_start, interval_end, source_tag) as batch:
        lower, upper = extraction_window(batch) if entity.watermark else (None, None)
        checkpoints = _Checkpoints(warehouse_url, batch)
        checker = RowChecker(entity, interval_end + FUTURE_GRACE)
        never = max(interval_end, datetime.now(UTC)) + FUTURE_GRACE
        checker.new_delivery(path)
        progress = Progress(log, f"load {source_tag} -> {batch.target_name}")
        counts = {"received": 0, "later": 0}
        rejected: list[Rejected] = []
        known = set(entity.column_names)
        extra_seen: set[str] = set()

        def take(rows: list[dict], copy) -> None:
            for row in rows:
                stamp = row.get(entity.watermark) if entity.watermark else None
                # Later changes belong to a later interval, unless they lie in the future:
                # no interval would ever take those, so they are quarantined here.
                later = upper is not None and isinstance(stamp, str) and _after(stamp, upper)
                if later and not _after(str(stamp), never):
                    counts["later"] += 1
                    continue
                counts["received"] += 1
                extra = {k: v for k, v in row.items() if k not in known}
                extra_seen.update(extra)
                raw = json.dumps(row, ensure_ascii=False)[:RAW_CONTENT_LIMIT]
                line = checker.check(row, counts["received"], raw, extra or None)
                if isinstance(line, Rejected):
                    rejected.append(line)
                else:
                    copy.write(line)
            progress.add(len(rows))

        with batch.copy_in() as copy:
            number, cursor, done = 0, None, False
            for stored, next_cursor, rows in checkpoints.stored():
                number = stored
                take(rows, copy)
                cursor, done = next_cursor, next_cursor is None
            if number:
                log.info("%s: resumed after %d stored page(s)", source_tag, number)
            if not done:
                with client_factory(connection) as client:
                    params = {"page_size": page_size, **_since(lower)}
                    for page in client.pages(path, params, start_cursor=cursor):
                        number += 1
                        checkpoints.save(page, number)
                        if page_hook:
                            page_hook(number)
                        take(page.rows, copy)
        batch.quarantine(rejected)
        batch.drift("extra_columns", sorted(extra_seen))
        if counts["later"]:
            log.info(
                "%s: %d row(s) updated after %s left for their own interval",
                source_tag,
                counts["later"],
                upper,
            )
        if entity.references:
            batch.quarantine_orphans(entity.references)
        checkpoints.discard_in(batch)
        batch.received = counts["received"]
        progress.done()
    assert batch.result is not None
    return batch.result


def _after(stamp: str, upper: datetime) -> bool:
    try:
        return datetime.fromisoformat(stamp) >= upper
    except ValueError:
        return False  # not a timestamp: the row checker quarantines it
