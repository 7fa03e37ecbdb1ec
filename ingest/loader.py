"""Stream a source table into ``raw`` with COPY, one recorded batch per interval.

The source side runs ``COPY (SELECT ...) TO STDOUT`` and the warehouse side
``COPY raw.<table> FROM STDIN``: blocks pass through untouched, so the load runs at
server COPY speed and never holds the table in memory. Batch id, load time and source
object are column defaults read from transaction-local settings; the row hash is
computed by the source query. Re-running an interval replaces that interval's rows in
the same transaction, so a repeat or a killed-and-rerun load leaves exactly one copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from warehouse.db import connect
from warehouse.log import Progress, get_logger

log = get_logger("ingest.loader")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TYPE = re.compile(r"^[a-z][a-z0-9 ]*(\(\d+(,\s*\d+)?\))?$")


class ConfigError(ValueError):
    """A source definition names something that cannot safely reach SQL."""


class LoadError(RuntimeError):
    """A batch failed; the message names the source object, the target and the cause."""


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"{what} {value!r} is not a plain lower-case SQL identifier")
    return value


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True

    def __post_init__(self) -> None:
        _identifier(self.name, "column")
        if not _TYPE.match(self.type):
            raise ConfigError(f"column {self.name}: type {self.type!r} is not a plain SQL type")


@dataclass(frozen=True)
class SqlEntity:
    """One table of a SQL source system and where it lands."""

    source_system: str
    schema: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def __post_init__(self) -> None:
        for value, what in (
            (self.source_system, "source system"),
            (self.schema, "schema"),
            (self.table, "table"),
        ):
            _identifier(value, what)
        names = {c.name for c in self.columns}
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ConfigError(f"{self.source_object}: primary key columns {missing} not in columns")

    @property
    def source_object(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def raw_table(self) -> str:
        return f"{self.source_system}__{self.table}"


@dataclass(frozen=True)
class LoadResult:
    batch_id: int
    target_table: str
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    replaced_batches: int
    checksum: str


def raw_table_ddl(entity: SqlEntity) -> sql.Composed:
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in entity.columns
    ]
    meta = sql.SQL(
        "_batch_id bigint not null default current_setting('crm.batch_id')::bigint, "
        "_loaded_at timestamptz not null default now(), "
        "_source text not null default current_setting('crm.source'), "
        "_row_hash text not null"
    )
    return sql.SQL("create table if not exists raw.{} ({}, {})").format(
        sql.Identifier(entity.raw_table), sql.SQL(", ").join(columns), meta
    )


def ensure_raw_table(conn: psycopg.Connection, entity: SqlEntity) -> list[str]:
    """Create the raw table, or add columns the contract gained since; returns those added."""
    conn.execute(raw_table_ddl(entity))
    present = {
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'raw' and table_name = %s",
            (entity.raw_table,),
        )
    }
    added = [c for c in entity.columns if c.name not in present]
    for column in added:
        conn.execute(
            sql.SQL("alter table raw.{} add column {} {}").format(
                sql.Identifier(entity.raw_table), sql.Identifier(column.name), sql.SQL(column.type)
            )
        )
        log.warning("raw.%s gained column %s %s", entity.raw_table, column.name, column.type)
    return [c.name for c in added]


def _extract_query(entity: SqlEntity) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in entity.columns)
    order = sql.SQL(", ").join(sql.Identifier(k) for k in entity.primary_key)
    return sql.SQL(
        "copy (select {cols}, md5(row({cols})::text) from {schema}.{table} order by {order}) "
        "to stdout"
    ).format(
        cols=cols,
        schema=sql.Identifier(entity.schema),
        table=sql.Identifier(entity.table),
        order=order,
    )


def load_full(
    entity: SqlEntity,
    source_url: str,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
) -> LoadResult:
    """Full extract of one table as the batch for [interval_start, interval_end)."""
    target = sql.SQL("raw.{}").format(sql.Identifier(entity.raw_table))
    target_name = f"raw.{entity.raw_table}"
    source_tag = f"{entity.source_system}:{entity.source_object}"
    progress = Progress(log, f"load {source_tag} -> {target_name}")
    with connect(warehouse_url) as wh, connect(source_url) as src:
        ensure_raw_table(wh, entity)
        batch_id = wh.execute(
            "insert into ops.load_batches (source_system, source_object, target_table,"
            " interval_start, interval_end) values (%s, %s, %s, %s, %s) returning batch_id",
            (entity.source_system, entity.source_object, target_name, interval_start, interval_end),
        ).fetchone()[0]
        wh.commit()  # the batch row survives a failed load, marked failed below
        try:
            with wh.transaction():
                wh.execute(
                    "select set_config('crm.batch_id', %s, true), "
                    "set_config('crm.source', %s, true)",
                    (str(batch_id), source_tag),
                )
                # Earlier batches of the same interval are replaced, not duplicated.
                previous = [
                    r[0]
                    for r in wh.execute(
                        "select batch_id from ops.load_batches where target_table = %s"
                        " and interval_start = %s and interval_end = %s and status = 'committed'"
                        " for update",
                        (target_name, interval_start, interval_end),
                    )
                ]
                if previous:
                    wh.execute(
                        sql.SQL("delete from {} where _batch_id = any(%s)").format(target),
                        (previous,),
                    )
                    wh.execute(
                        "update ops.load_batches set status = 'replaced' where batch_id = any(%s)",
                        (previous,),
                    )
                column_list = sql.SQL(", ").join(
                    [sql.Identifier(c.name) for c in entity.columns] + [sql.Identifier("_row_hash")]
                )
                with (
                    src.cursor().copy(_extract_query(entity)) as out,
                    wh.cursor().copy(
                        sql.SQL("copy {} ({}) from stdin").format(target, column_list)
                    ) as into,
                ):
                    for block in out:
                        into.write(block)
                        progress.add(bytes(block).count(b"\n"))
                loaded, checksum = wh.execute(
                    sql.SQL(
                        "select count(*), coalesce(md5(string_agg(_row_hash, '' "
                        "order by _row_hash)), '') from {} where _batch_id = %s"
                    ).format(target),
                    (batch_id,),
                ).fetchone()
                received = progress.count
                wh.execute(
                    "update ops.load_batches set status = 'committed', rows_received = %s,"
                    " rows_loaded = %s, rows_quarantined = 0, rows_checksum = %s,"
                    " finished_at = now() where batch_id = %s",
                    (received, loaded, checksum, batch_id),
                )
        except Exception as exc:
            wh.rollback()
            wh.execute(
                "update ops.load_batches set status = 'failed', message = %s,"
                " finished_at = now() where batch_id = %s",
                (str(exc)[:2000], batch_id),
            )
            wh.commit()
            raise LoadError(
                f"load of {source_tag} into {target_name} (batch {batch_id}) failed: {exc}"
            ) from exc
    progress.done(loaded)
    return LoadResult(batch_id, target_name, received, loaded, 0, len(previous), checksum)
