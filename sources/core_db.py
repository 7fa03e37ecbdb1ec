"""The core-banking source database: schema from the contract, fast COPY writes.

Both the demo bank and the Berka adapter write through here, so the core database
always has exactly the tables and columns that `ingest/config/core_banking.yml` promises.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import Connection, sql

from ingest.config import EntityContract, load_contract

SCHEMA = "core"


def core_contract() -> dict[str, EntityContract]:
    return load_contract("core_banking")


def create_schema(conn: Connection, *, replace: bool = False) -> None:
    """Create schema ``core`` and its tables (dropped first when ``replace``)."""
    if replace:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
    for entity in core_contract().values():
        columns = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name), sql.SQL(c.type), sql.SQL("" if c.nullable else " not null")
            )
            for c in entity.columns
        ]
        key = sql.SQL("primary key ({})").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in entity.primary_key)
        )
        conn.execute(
            sql.SQL("create table if not exists {}.{} ({}, {})").format(
                sql.Identifier(SCHEMA),
                sql.Identifier(entity.name),
                sql.SQL(", ").join(columns),
                key,
            )
        )
    conn.execute("create index if not exists transactions_txn_ts on core.transactions (txn_ts)")
    for table in ("customers", "accounts", "balances", "loan_status"):
        conn.execute(
            sql.SQL("create index if not exists {} on {}.{} (updated_at)").format(
                sql.Identifier(f"{table}_updated_at"),
                sql.Identifier(SCHEMA),
                sql.Identifier(table),
            )
        )


def _csv_ready(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column in a type pyarrow's CSV writer handles well.

    Zone-aware timestamps format about 20x slower; they are UTC, and the COPY session
    reads zone-less values as UTC (copy_frame and upsert_frame set the session zone).
    `large_string` (what pandas 3 strings become) is written with the first bytes of each
    value batch zeroed by pyarrow 26's CSV writer (found at bench scale: NUL bytes in
    the COPY of changed customers); as `string` it is written correctly.
    """
    if pa.types.is_timestamp(column.type) and column.type.tz:
        return column.cast(pa.timestamp(column.type.unit))
    if pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    return column


def _copy_csv(table: pa.Table) -> bytes:
    """A table as CSV for ``COPY ... (format csv)``: an unquoted empty field is NULL.

    pyarrow's writer quotes only where needed and is about ten times faster than
    pandas ``to_csv`` on wide frames.
    """
    columns = [_csv_ready(column) for column in table.columns]
    table = pa.table(columns, names=table.column_names)
    buffer = io.BytesIO()
    pa_csv.write_csv(
        table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    )
    return buffer.getvalue()


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame | pa.Table) -> int:
    """Append rows whose columns are (a subset of) the contract's, in one COPY."""
    data = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    if data.num_rows == 0:
        return 0
    known = core_contract()[table].column_names
    unknown = [c for c in data.column_names if c not in known]
    if unknown:
        raise ValueError(f"core.{table} has no columns {unknown}")
    statement = sql.SQL("copy {}.{} ({}) from stdin (format csv)").format(
        sql.Identifier(SCHEMA),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in data.column_names),
    )
    conn.execute("set time zone 'UTC'")
    with conn.cursor().copy(statement) as copy:
        copy.write(_copy_csv(data))
    return data.num_rows


def upsert_frame(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """Insert new keys and overwrite changed ones (a source row changing in place)."""
    if frame.empty:
        return 0
    entity = core_contract()[table]
    temp = f"_upsert_{table}"
    conn.execute(
        sql.SQL("create temp table if not exists {} (like {}.{}) on commit drop").format(
            sql.Identifier(temp), sql.Identifier(SCHEMA), sql.Identifier(table)
        )
    )
    conn.execute(sql.SQL("truncate {}").format(sql.Identifier(temp)))
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    conn.execute("set time zone 'UTC'")
    with conn.cursor().copy(
        sql.SQL("copy {} ({}) from stdin (format csv)").format(sql.Identifier(temp), columns)
    ) as copy:
        copy.write(_copy_csv(pa.Table.from_pandas(frame, preserve_index=False)))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
        for c in frame.columns
        if c not in entity.primary_key
    )
    conn.execute(
        sql.SQL(
            "insert into {}.{} ({cols}) select {cols} from {} on conflict ({}) do update set {}"
        ).format(
            sql.Identifier(SCHEMA),
            sql.Identifier(table),
            sql.Identifier(temp),
            sql.SQL(", ").join(sql.Identifier(k) for k in entity.primary_key),
            updates,
            cols=columns,
        )
    )
    return len(frame)


def table_counts(conn: Connection, tables: Iterable[str] | None = None) -> dict[str, int]:
    names = list(tables) if tables is not None else list(core_contract())
    return {
        name: conn.execute(
            sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(SCHEMA), sql.Identifier(name)
            )
        ).fetchone()[0]
        for name in names
    }
