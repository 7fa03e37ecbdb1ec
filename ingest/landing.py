"""Raw landing tables and the batch that fills them: one transaction per interval.

A batch is recorded in ``ops.load_batches`` before any data moves (so a failure stays
visible), then, in one transaction: earlier batches of the same interval are deleted with
their quarantine rows, the rows are copied in, rejected rows go to
``quarantine.rejected_rows``, counts and a checksum are taken from what actually landed,
received = loaded + quarantined is asserted, and the watermark moves. A process killed at
any point leaves the previous state; the next run marks the dead batch abandoned.

Raw tables carry the contract columns plus ``_extra`` (columns the source added, as JSONB),
``_batch_id``, ``_loaded_at``, ``_source``, ``_source_row`` (line or row number) and
``_row_hash``. They have no B-tree indexes (COPY stays fast); a BRIN index on ``_batch_id``
lets later stages read one batch cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from ingest.config import EntityContract, Reference, load_system
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("ingest.landing")

RULES = (
    "malformed_line",
    "wrong_type",
    "required_missing",
    "duplicate_key",
    "orphan_reference",
    "future_date",
    "invalid_encoding",
)
QUARANTINE_COLUMNS = (
    "batch_id",
    "source_system",
    "source_object",
    "target_table",
    "row_number",
    "record_key",
    "rule",
    "column_name",
    "message",
    "raw_content",
)
# An event may be stamped up to this long after the end of the interval being loaded
# (clock skew, late-day postings); anything later is quarantined as future_date.
FUTURE_GRACE = timedelta(days=1)
RAW_CONTENT_LIMIT = 4000  # characters of a rejected line or record kept in quarantine

# Lineage columns of every raw table, after the contract's columns.
META = (
    ("_extra", "jsonb"),
    ("_batch_id", "bigint not null default current_setting('crm.batch_id')::bigint"),
    ("_loaded_at", "timestamptz not null default now()"),
    # The delivery a row came from where a batch reads several (a day's file, an API
    # endpoint); null for rows of a source table, which the contract names one to one
    # (and ops.load_batches records): a per-row copy would widen every raw row.
    ("_source", "text default current_setting('crm.source')"),
    ("_source_row", "bigint"),
    ("_row_hash", "bigint not null"),
    # Set only in flight by sources that check rows where they are read ("rule, column,
    # message", separated by chr(31)); such rows move to quarantine before the batch
    # commits, so committed raw rows never carry one.
    ("_rule", "text"),
)


# The lineage columns whose values are the same for every row of a batch (or of a file).
LINEAGE = ("_batch_id", "_loaded_at", "_source")


class LoadError(RuntimeError):
    """A batch failed; the message names the source object, the target and the cause."""


class NotReady(LoadError):
    """The source has not delivered the interval yet (no done marker, no referenced load)."""


@dataclass(frozen=True)
class Rejected:
    """One source row refused at the door."""

    rule: str
    message: str
    row_number: int | None = None
    record_key: str | None = None
    column: str | None = None
    raw_content: str | None = None
    source: str | None = None  # the file or endpoint, when the entity's pattern is not enough

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown quarantine rule {self.rule!r}")


@dataclass
class LoadResult:
    batch_id: int
    target_table: str
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    replaced_batches: int
    checksum: str
    watermark: str | None = None
    schema_drift: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "target_table": self.target_table,
            "rows_received": self.rows_received,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "replaced_batches": self.replaced_batches,
            "checksum": self.checksum,
            "watermark": self.watermark,
            "schema_drift": self.schema_drift,
        }


def raw_ident(entity: EntityContract) -> sql.Composed:
    return sql.SQL("raw.{}").format(sql.Identifier(entity.raw_table))


def ensure_raw_table(conn: psycopg.Connection, entity: EntityContract) -> list[str]:
    """Create the raw table, or add columns the contract gained since; returns those added."""
    target = raw_ident(entity)
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in entity.columns
    ]
    meta = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl)) for name, ddl in META
    )
    conn.execute(
        sql.SQL("create table if not exists {} ({}, {})").format(
            target, sql.SQL(", ").join(columns), meta
        )
    )
    conn.execute(
        sql.SQL("create index if not exists {} on {} using brin (_batch_id)").format(
            sql.Identifier(f"{entity.raw_table}__batch"[:63]), target
        )
    )
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod), a.atthasdef, a.attnotnull"
        " from pg_attribute a"
        " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
        (f"raw.{entity.raw_table}",),
    ).fetchall()
    present = {name: kind for name, kind, _, _ in rows}
    defaulted = {name for name, _, has_default, _ in rows if has_default}
    not_null = {name for name, _, _, is_not_null in rows if is_not_null}
    for name, ddl in META:
        if name in not_null and " not null" not in ddl:  # e.g. _source, once required
            conn.execute(
                sql.SQL("alter table {} alter column {} drop not null").format(
                    target, sql.Identifier(name)
                )
            )
        if name not in present:
            conn.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    target, sql.Identifier(name), sql.SQL(ddl.replace(" not null", ""))
                )
            )
        elif " default " in ddl and name not in defaulted:  # rows take batch, time, source
            conn.execute(
                sql.SQL("alter table {} alter column {} set default {}").format(
                    target, sql.Identifier(name), sql.SQL(ddl.split(" default ", 1)[1])
                )
            )
    added = [c for c in entity.columns if c.name not in present]
    for column in added:
        conn.execute(
            sql.SQL("alter table {} add column {} {}").format(
                target, sql.Identifier(column.name), sql.SQL(column.type)
            )
        )
        log.warning("raw.%s gained column %s %s", entity.raw_table, column.name, column.type)
    # Loads copy in binary, which needs the table's types to be the contract's exactly.
    for column in entity.columns:
        if column.name in present and present[column.name] != column.canonical_type:
            conn.execute(
                sql.SQL("alter table {} alter column {} type {} using {}::{}").format(
                    target,
                    sql.Identifier(column.name),
                    sql.SQL(column.type),
                    sql.Identifier(column.name),
                    sql.SQL(column.type),
                )
            )
            log.warning(
                "raw.%s: column %s changed type from %s to %s",
                entity.raw_table,
                column.name,
                present[column.name],
                column.type,
            )
    if present.get("_row_hash") == "text":  # raw tables of the first release hashed with md5
        conn.execute(
            sql.SQL(
                "alter table {} alter column _row_hash type bigint"
                " using ('x' || substr(_row_hash, 1, 16))::bit(64)::bigint"
            ).format(target)
        )
    return [c.name for c in added]


def copy_columns(
    entity: EntityContract, flagged: bool = False, lineage: bool = False
) -> sql.Composed:
    """Column list of a raw COPY: contract columns, then _extra, _source_row, _row_hash
    (and _rule when the source flags failing rows). Batch, load time and source come from
    the column defaults, or, with ``lineage``, with every row: a source query sends them
    as constants, cheaper than the warehouse evaluating three defaults per row."""
    names = [*entity.column_names, "_extra", "_source_row", "_row_hash"]
    if flagged:
        names.append("_rule")
    if lineage:
        names.extend(LINEAGE)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def referenced_key(ref: Reference) -> str:
    return load_system(ref.system).entity(ref.entity).primary_key[0]


class Batch:
    """One load of one entity for one interval; use through ``open_batch``."""

    def __init__(
        self,
        conn: psycopg.Connection,
        entity: EntityContract,
        interval_start: datetime,
        interval_end: datetime,
        source_tag: str,
    ) -> None:
        self.conn = conn
        self.entity = entity
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.source_tag = source_tag
        self.target = raw_ident(entity)
        self.target_name = f"raw.{entity.raw_table}"
        self.batch_id = 0
        self.replaced: list[int] = []
        self.schema_drift: dict[str, list[str]] = {}
        self.extract_from: str | None = None
        self.extract_to: str | None = None
        self.received = 0
        self.result: LoadResult | None = None

    # --- lifecycle -------------------------------------------------------------------

    @property
    def _lock_key(self) -> str:
        return f"crm.load:{self.target_name}"

    def _open(self) -> None:
        conn = self.conn
        # One load per target at a time: a session lock, released when the batch ends or
        # when the connection dies with its process.
        conn.execute("select pg_advisory_lock(hashtext(%s))", (self._lock_key,))
        # Holding the lock, any batch still 'running' belongs to a process that died.
        conn.execute(
            "update ops.load_batches set status = 'failed', finished_at = now(),"
            " message = 'abandoned: the loading process ended before the batch committed'"
            " where target_table = %s and status = 'running'",
            (self.target_name,),
        )
        self.batch_id = conn.execute(
            "insert into ops.load_batches (source_system, source_object, target_table,"
            " interval_start, interval_end) values (%s, %s, %s, %s, %s) returning batch_id",
            (
                self.entity.system,
                self.entity.source_object,
                self.target_name,
                self.interval_start,
                self.interval_end,
            ),
        ).fetchone()[0]
        conn.commit()

    def _begin(self) -> None:
        conn = self.conn
        ensure_raw_table(conn, self.entity)
        conn.execute(
            "select set_config('crm.batch_id', %s, true), set_config('crm.source', %s, true)",
            (str(self.batch_id), self.source_tag),
        )
        self.replaced = [
            r[0]
            for r in conn.execute(
                "select batch_id from ops.load_batches where target_table = %s"
                " and interval_start = %s and interval_end = %s and status = 'committed'"
                " for update",
                (self.target_name, self.interval_start, self.interval_end),
            )
        ]
        if self.replaced:
            conn.execute(
                sql.SQL("delete from {} where _batch_id = any(%s)").format(self.target),
                (self.replaced,),
            )
            conn.execute(
                "delete from quarantine.rejected_rows where batch_id = any(%s)", (self.replaced,)
            )
            conn.execute(
                "update ops.load_batches set status = 'replaced' where batch_id = any(%s)",
                (self.replaced,),
            )
            log.info(
                "%s: replacing batch(es) %s of the same interval", self.target_name, self.replaced
            )

    def previous_window(self) -> tuple[bool, str | None]:
        """(known, extract_from) of the committed batch this one replaces, if any."""
        row = self.conn.execute(
            "select extract_from from ops.load_batches where target_table = %s"
            " and interval_start = %s and interval_end = %s and status in ('committed', 'replaced')"
            " order by batch_id desc limit 1",
            (self.target_name, self.interval_start, self.interval_end),
        ).fetchone()
        return (row is not None, row[0] if row else None)

    def has_earlier_batches(self) -> bool:
        """Whether an interval before this one was loaded (else this is the first load)."""
        row = self.conn.execute(
            "select 1 from ops.load_batches where target_table = %s and status = 'committed'"
            " and interval_start < %s limit 1",
            (self.target_name, self.interval_start),
        ).fetchone()
        return row is not None

    def first_loaded_interval(self) -> datetime | None:
        row = self.conn.execute(
            "select min(interval_start) from ops.load_batches"
            " where target_table = %s and status = 'committed'",
            (self.target_name,),
        ).fetchone()
        return row[0]

    # --- data ------------------------------------------------------------------------

    def lineage(self) -> tuple[int, datetime]:
        """(batch id, load time) for rows that bring their lineage with them; the load time
        is the warehouse transaction's, as the ``_loaded_at`` default gives."""
        loaded_at = self.conn.execute("select now()").fetchone()[0]
        return self.batch_id, loaded_at

    def set_source(self, tag: str) -> None:
        """Tag the rows copied from now on (``_source``), e.g. with the file being read."""
        self.conn.execute("select set_config('crm.source', %s, true)", (tag,))

    @contextmanager
    def copy_in(
        self, binary: bool = False, flagged: bool = False, lineage: bool = False
    ) -> Iterator[psycopg.Copy]:
        """COPY into the raw table, columns as ``copy_columns`` orders them."""
        statement = sql.SQL("copy {} ({}) from stdin {}").format(
            self.target,
            copy_columns(self.entity, flagged, lineage),
            sql.SQL("(format binary)" if binary else ""),
        )
        cursor = self.conn.cursor()
        # A writer thread sends while the caller goes on reading: the relay never stalls
        # the source while the warehouse is busy.
        writer = QueuedLibpqWriter(cursor) if binary else None
        with cursor.copy(statement, writer=writer) as copy:
            yield copy

    def quarantine(self, rows: list[Rejected]) -> None:
        if not rows:
            return
        statement = sql.SQL("copy quarantine.rejected_rows ({}) from stdin").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in QUARANTINE_COLUMNS)
        )
        with self.conn.cursor().copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    (
                        self.batch_id,
                        self.entity.system,
                        row.source or self.entity.source_object,
                        self.target_name,
                        row.row_number,
                        row.record_key,
                        row.rule,
                        row.column,
                        row.message,
                        row.raw_content,
                    )
                )

    def _move_to_quarantine(
        self,
        condition: sql.Composable,
        rule: sql.Composable,
        column: sql.Composable,
        message: sql.Composable,
        params: dict[str, Any] | None = None,
    ) -> int:
        """Move this batch's raw rows matching ``condition`` (alias r) to quarantine."""
        key_expr = sql.SQL(" || '|' || ").join(
            sql.SQL("coalesce(r.{}::text, '')").format(sql.Identifier(k))
            for k in self.entity.primary_key
        )
        lineage = sql.SQL(", ").join(sql.Literal(name) for name, _ in META if name != "_extra")
        return self.conn.execute(
            sql.SQL(
                "with bad as ("
                " delete from {target} r where r._batch_id = %(batch)s and ({condition})"
                " returning r.*)"
                " insert into quarantine.rejected_rows ({qcols})"
                " select %(batch)s, %(system)s,"
                " coalesce(substr(r._source, %(skip)s), %(object)s), %(target_name)s,"
                " r._source_row, {key_expr}, {rule}, {column}, {message},"
                " (to_jsonb(r) - array[{lineage}])::text from bad r"
            ).format(
                target=self.target,
                condition=condition,
                qcols=sql.SQL(", ").join(sql.Identifier(c) for c in QUARANTINE_COLUMNS),
                key_expr=key_expr,
                rule=rule,
                column=column,
                message=message,
                lineage=lineage,
            ),
            {
                "batch": self.batch_id,
                "system": self.entity.system,
                "skip": len(self.entity.system) + 2,
                "object": self.entity.source_object,
                "target_name": self.target_name,
                **(params or {}),
            },
        ).rowcount

    def quarantine_orphans(self, refs: tuple[Reference, ...]) -> int:
        """Move landed rows whose reference is unknown in raw to quarantine (set-based)."""
        moved = 0
        for ref in refs:
            ref_table = sql.SQL("raw.{}").format(sql.Identifier(ref.raw_table))
            if ref.raw_table != self.entity.raw_table and not self._table_exists(ref.raw_table):
                raise NotReady(
                    f"{self.source_tag}: column {ref.column} references {ref.system}.{ref.entity},"
                    f" but raw.{ref.raw_table} has never been loaded; load {ref.system} first"
                )
            column = sql.Identifier(ref.column)
            message = f"{ref.column} has no match in {ref.system}.{ref.entity}"
            count = self._move_to_quarantine(
                sql.SQL(
                    "r.{col} is not null"
                    " and not exists (select 1 from {ref} x where x.{key} = r.{col})"
                ).format(col=column, ref=ref_table, key=sql.Identifier(referenced_key(ref))),
                sql.Literal("orphan_reference"),
                sql.Literal(ref.column),
                sql.SQL("{} || ' (' || r.{}::text || ')'").format(sql.Literal(message), column),
            )
            if count:
                log.warning("%s: %d row(s) quarantined: %s", self.target_name, count, message)
            moved += count
        return moved

    def _move_flagged(self, tids: str) -> int:
        """Rows a source flagged in flight (``_rule``: rule, column, message) to quarantine.

        ``tids`` (a tid[] literal) are where the finish scan found them: they are fetched
        by address, without a second scan of the batch."""
        part = sql.SQL("split_part(r._rule, chr(31), {})")
        return self._move_to_quarantine(
            sql.SQL("r.ctid = any(%(tids)s::tid[]) and r._rule is not null"),
            part.format(1),
            sql.SQL("nullif({}, '')").format(part.format(2)),
            part.format(3),
            {"tids": tids},
        )

    def _table_exists(self, raw_table: str) -> bool:
        row = self.conn.execute("select to_regclass(%s)", (f"raw.{raw_table}",)).fetchone()
        return row[0] is not None

    def drift(self, kind: str, columns: list[str]) -> None:
        if columns:
            merged = sorted(set(self.schema_drift.get(kind, [])) | set(columns))
            self.schema_drift[kind] = merged

    def _finish(self, received: int) -> LoadResult:
        conn = self.conn
        watermark = self.entity.watermark
        wm_expr = (
            sql.SQL("(max({}) filter (where _rule is null))::text").format(
                sql.Identifier(watermark)
            )
            if watermark
            else sql.SQL("null::text")
        )
        # One scan of the batch: what stays (count, checksum, newest change), where the
        # flagged rows are.
        loaded, checksum, high, flagged = conn.execute(
            sql.SQL(
                "select count(*) filter (where _rule is null),"
                " coalesce(sum(_row_hash) filter (where _rule is null), 0)::text,"
                " {}, (array_agg(ctid) filter (where _rule is not null))::text"
                " from {} where _batch_id = %s"
            ).format(wm_expr, self.target),
            (self.batch_id,),
        ).fetchone()
        if flagged:
            self._move_flagged(flagged)
        quarantined = conn.execute(
            "select count(*) from quarantine.rejected_rows where batch_id = %s", (self.batch_id,)
        ).fetchone()[0]
        if received != loaded + quarantined:
            raise LoadError(
                f"{self.source_tag}: received {received} rows but {loaded} landed and "
                f"{quarantined} were quarantined; refusing to commit a batch that lost rows"
            )
        if self.schema_drift:
            log.warning("%s: schema drift %s", self.source_tag, self.schema_drift)
        conn.execute(
            "update ops.load_batches set status = 'committed', rows_received = %s,"
            " rows_loaded = %s, rows_quarantined = %s, rows_checksum = %s, schema_drift = %s,"
            " extract_from = %s, extract_to = %s, watermark_value = %s, finished_at = now(),"
            " message = %s where batch_id = %s",
            (
                received,
                loaded,
                quarantined,
                checksum,
                json.dumps(self.schema_drift) if self.schema_drift else None,
                self.extract_from,
                self.extract_to,
                high,
                _summary(self.schema_drift),
                self.batch_id,
            ),
        )
        if watermark and high is not None:
            conn.execute(
                "insert into ops.watermarks as w (source_system, source_object, watermark_column,"
                " watermark_value, batch_id) values (%s, %s, %s, %s, %s)"
                " on conflict (source_system, source_object) do update set"
                " watermark_value = greatest(w.watermark_value::timestamptz,"
                " excluded.watermark_value::timestamptz)::text,"
                " batch_id = case when excluded.watermark_value::timestamptz"
                " >= w.watermark_value::timestamptz then excluded.batch_id else w.batch_id end,"
                " watermark_column = excluded.watermark_column, updated_at = now()",
                (self.entity.system, self.entity.source_object, watermark, high, self.batch_id),
            )
        return LoadResult(
            self.batch_id,
            self.target_name,
            received,
            loaded,
            quarantined,
            len(self.replaced),
            checksum,
            high,
            dict(self.schema_drift),
        )


def _summary(drift: dict[str, list[str]]) -> str | None:
    if not drift:
        return None
    return "; ".join(f"{kind}: {', '.join(cols)}" for kind, cols in sorted(drift.items()))


@contextmanager
def open_batch(
    warehouse_url: str,
    entity: EntityContract,
    interval_start: datetime,
    interval_end: datetime,
    source_tag: str,
) -> Iterator[Batch]:
    """A batch in an open transaction; set ``batch.received`` before leaving the block.

    Commits on a clean exit (after the counts balance) and leaves ``batch.result``; on any
    error rolls back, records the batch as failed with the message, and raises LoadError
    naming source and target.
    """
    with connect(warehouse_url, application="crm-ingest") as conn:
        batch = Batch(conn, entity, interval_start, interval_end, source_tag)
        batch._open()
        try:
            batch._begin()
            yield batch
            batch.result = batch._finish(batch.received)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            conn.execute(
                "update ops.load_batches set status = 'failed', message = %s,"
                " finished_at = now() where batch_id = %s",
                (str(exc)[:2000], batch.batch_id),
            )
            conn.commit()
            if isinstance(exc, LoadError):
                raise
            raise LoadError(
                f"load of {source_tag} into {batch.target_name} (batch {batch.batch_id}) "
                f"failed: {exc}"
            ) from exc
        finally:
            if not conn.closed and not conn.broken:
                conn.rollback()
                conn.execute("select pg_advisory_unlock(hashtext(%s))", (batch._lock_key,))
                conn.commit()
