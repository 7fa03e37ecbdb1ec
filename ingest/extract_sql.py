"""SQL sources: the source streams ``COPY (SELECT ...) TO STDOUT`` straight into raw.

The source query casts every column to its contract type, so its binary COPY output is
exactly what ``COPY raw.<table> FROM STDIN (FORMAT binary)`` reads: rows pass through
Python unparsed, in large writes, and memory stays at one buffer whatever the size.
Validation runs where the data is, in the same single pass: each row carries the first
rule it breaks (or nothing) in ``_rule``, and the finish scan of the batch moves flagged
rows to quarantine before the commit. Rows stamped in the future ride along with every
window so they are reported, not silently never extracted. Checks the source's own NOT
NULL constraints guarantee are skipped. The row hash (64-bit: per-type hash functions,
XORed) is computed by the source while it sends the row; received rows are the source's
own count of what it sent.
"""

from __future__ import annotations

import select
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import pq, sql

from ingest.config import EntityContract, load_system
from ingest.landing import FUTURE_GRACE, Batch, LoadError, LoadResult, open_batch
from ingest.window import extraction_window
from warehouse.db import connect
from warehouse.log import Progress, get_logger

log = get_logger("ingest.sql")

RELAY_BYTES = 1 << 18  # bytes gathered before each write into the warehouse


@dataclass(frozen=True)
class _Rule:
    rule: str
    column: str | None
    predicate: sql.Composable
    message: sql.Composable


def _source_columns(
    src: psycopg.Connection, schema: str, table: str
) -> dict[str, tuple[str, bool]]:
    """Column -> (type, declared not null) of the source table."""
    rows = src.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        " from pg_attribute a"
        " join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped"
        " order by a.attnum",
        (schema, table),
    ).fetchall()
    return {name: (kind, not_null) for name, kind, not_null in rows}


def _key_is_unique(src: psycopg.Connection, schema: str, table: str, key: tuple[str, ...]) -> bool:
    """Whether a unique index on exactly the key guarantees no duplicates in the source."""
    rows = src.execute(
        "select array(select a.attname from unnest(i.indkey) k"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k)"
        " from pg_index i join pg_class c on c.oid = i.indrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = %s and i.indisunique and i.indpred is null",
        (schema, table),
    ).fetchall()
    return any(sorted(r[0]) == sorted(key) for r in rows)


def _hash_functions(src: psycopg.Connection, types: set[str]) -> dict[str, sql.Composable]:
    """Type -> the 64-bit hash function of its default hash operator class on the source."""
    if src.info.server_version < 110000:
        raise LoadError(
            f"the source server runs PostgreSQL {src.info.server_version}; 11 or newer is needed"
        )
    rows = src.execute(
        "select t.name, n.nspname, p.proname"
        " from unnest(%s::text[]) as t (name)"
        " join pg_opclass oc on oc.opcintype = t.name::regtype and oc.opcdefault"
        " join pg_am am on am.oid = oc.opcmethod and am.amname = 'hash'"
        " join pg_amproc ap on ap.amprocfamily = oc.opcfamily and ap.amprocnum = 2"
        "  and ap.amproclefttype = oc.opcintype and ap.amprocrighttype = oc.opcintype"
        " join pg_proc p on p.oid = ap.amproc join pg_namespace n on n.oid = p.pronamespace",
        (sorted(types),),
    ).fetchall()
    return {name: sql.Identifier(schema, function) for name, schema, function in rows}


class SqlExtract:
    """The queries that pull one entity's window from its source table."""

    def __init__(
        self,
        entity: EntityContract,
        source: dict[str, tuple[str, bool]],
        unique_key: bool,
        hash_functions: dict[str, sql.Composable],
    ) -> None:
        self.entity = entity
        self.table = sql.SQL("{}.{}").format(
            sql.Identifier(str(entity.options["schema"])), sql.Identifier(entity.name)
        )
        missing = [c for c in entity.columns if c.name not in source]
        required = [c.name for c in missing if not c.nullable]
        if required:
            raise LoadError(
                f"{entity.system}:{entity.source_object}: required column(s) {required} "
                f"missing from the source table (it has {', '.join(source)})"
            )
        self.missing = [c.name for c in missing]
        self.extra = [name for name in source if name not in entity.column_names]
        self.unique_key = unique_key
        self.hash_functions = hash_functions
        # A check the source's own NOT NULL constraint guarantees is not run again.
        self.not_null = {name for name, (_, not_null) in source.items() if not_null}
        self.values: list[sql.Composable] = []
        for column in entity.columns:
            if column.name not in source:
                self.values.append(sql.SQL("null::{}").format(sql.SQL(column.type)))
            elif source[column.name][0] == column.canonical_type:
                self.values.append(sql.SQL("t.{}").format(sql.Identifier(column.name)))
            else:
                self.values.append(
                    sql.SQL("t.{}::{}").format(sql.Identifier(column.name), sql.SQL(column.type))
                )

    def _where(self, lower: datetime | None, upper: datetime | None) -> sql.Composable:
        watermark = self.entity.watermark
        if not watermark or upper is None:
            return sql.SQL("true")
        column = sql.Identifier(watermark)
        parts = [sql.SQL("t.{} < {}").format(column, sql.Literal(upper))]
        if lower is not None:
            parts.append(sql.SQL("t.{} >= {}").format(column, sql.Literal(lower)))
        return sql.SQL(" and ").join(parts)

    def _from(
        self, lower: datetime | None, upper: datetime | None, beyond: _Rule | None
    ) -> sql.Composable:
        """``<relation> t where <window, or stamped beyond it>``."""
        where = self._where(lower, upper)
        if beyond is not None:
            where = sql.SQL("({}) or ({})").format(where, beyond.predicate)
        if self.unique_key:
            return sql.SQL("{} t where {}").format(self.table, where)
        key = sql.SQL(", ").join(sql.Identifier(k) for k in self.entity.primary_key)
        return sql.SQL(
            "(select t.*, row_number() over (partition by {} order by t.ctid) as _key_seq"
            " from {} t where {}) t"
        ).format(key, self.table, where)

    def rules(self, limit: datetime) -> list[_Rule]:
        entity = self.entity
        found: list[_Rule] = []
        present = [c for c in entity.columns if c.name not in self.missing]
        for column in present:
            if not column.nullable and column.name not in self.not_null:
                found.append(
                    _Rule(
                        "required_missing",
                        column.name,
                        sql.SQL("t.{} is null").format(sql.Identifier(column.name)),
                        sql.Literal(f"{column.name} is required but empty"),
                    )
                )
        if not self.unique_key:
            found.append(
                _Rule(
                    "duplicate_key",
                    None,
                    sql.SQL("t._key_seq > 1"),
                    sql.Literal(f"key {list(entity.primary_key)} delivered twice in the batch"),
                )
            )
        for column in present:
            if column.not_future:
                found.append(
                    _Rule(
                        "future_date",
                        column.name,
                        sql.SQL("t.{} > {}").format(
                            sql.Identifier(column.name), sql.Literal(limit)
                        ),
                        sql.SQL("{} || t.{}::text || {}").format(
                            sql.Literal(f"{column.name}="),
                            sql.Identifier(column.name),
                            sql.Literal(f" is later than the interval end {limit:%Y-%m-%d} allows"),
                        ),
                    )
                )
        system = load_system(entity.system)
        for ref in entity.references:
            if ref.system != entity.system:
                continue  # checked against raw in the warehouse after landing
            target = system.entity(ref.entity)
            found.append(
                _Rule(
                    "orphan_reference",
                    ref.column,
                    sql.SQL(
                        # NOT IN over the key (never null) is a hashed subplan: one hash
                        # table, one probe per row; a null reference yields null, not a flag.
                        "t.{col} not in (select r.{key} from {schema}.{table} r)"
                    ).format(
                        col=sql.Identifier(ref.column),
                        schema=sql.Identifier(str(target.options["schema"])),
                        table=sql.Identifier(target.name),
                        key=sql.Identifier(target.primary_key[0]),
                    ),
                    sql.SQL("{} || t.{}::text || {}").format(
                        sql.Literal(f"{ref.column}="),
                        sql.Identifier(ref.column),
                        sql.Literal(f" has no match in {ref.system}.{ref.entity}"),
                    ),
                )
            )
        return found

    def _extra_json(self) -> sql.Composable:
        if not self.extra:
            return sql.SQL("null::jsonb")
        pairs = sql.SQL(", ").join(
            sql.SQL("{}, t.{}").format(sql.Literal(name), sql.Identifier(name))
            for name in self.extra
        )
        return sql.SQL("jsonb_build_object({})").format(pairs)

    def _row_hash(self) -> sql.Composable:
        """A 64-bit hash of the row, computed by the source while it sends the row.

        Each value goes through its type's own 64-bit hash function, seeded by its position,
        and the results are XORed: a third cheaper than ``hash_record_extended(row(...))``,
        which first builds a record of the row and then takes it apart again."""
        parts = []
        for position, (column, value) in enumerate(
            zip(self.entity.columns, self.values, strict=True), start=1
        ):
            function = self.hash_functions.get(column.canonical_type)
            if function is None:  # a type without a hash operator class: hash its text
                digest = sql.SQL("hashtextextended({}::text, {})").format(
                    value, sql.Literal(position)
                )
            else:
                digest = sql.SQL("{}({}, {})").format(function, value, sql.Literal(position))
            if column.name not in self.not_null:
                # A null hashes to a constant of its own per column, not to nothing.
                digest = sql.SQL("coalesce({}, {})").format(digest, sql.Literal(-position))
            parts.append(digest)
        return sql.SQL(" # ").join(parts)

    def beyond_rule(self, limit: datetime) -> _Rule | None:
        """Rows stamped in the future: no interval's window would ever hold them, so every
        batch takes them along and quarantines them until the source corrects them."""
        watermark = self.entity.watermark
        if not watermark or not self.entity.column(watermark).not_future:
            return None
        column = sql.Identifier(watermark)
        return _Rule(
            "future_date",
            watermark,
            sql.SQL("t.{} > {}").format(column, sql.Literal(limit)),
            sql.SQL("{} || t.{}::text || {}").format(
                sql.Literal(f"{watermark}="),
                column,
                sql.Literal(f" lies in the future (after {limit:%Y-%m-%d}): never loadable"),
            ),
        )

    def copy_window(
        self,
        lower: datetime | None,
        upper: datetime | None,
        rules: list[_Rule],
        beyond: _Rule | None,
        lineage: tuple[int, datetime],
    ) -> sql.Composed:
        """Binary COPY of the window, typed exactly as the raw table, each row flagged in
        ``_rule`` with the first rule it breaks ("rule, column, message" by chr(31)), and
        followed by the batch's lineage (batch id, load time) as constants and a null
        ``_source`` (the contract names the one source table).

        One pass over the source: failing rows travel with the rest and are moved to
        quarantine in the warehouse before the batch commits. Sending the lineage costs
        the source little and spares the warehouse default expressions on every row."""
        checks = ([beyond] if beyond else []) + rules
        if checks:
            flag = sql.SQL("case {} end").format(
                sql.SQL(" ").join(
                    sql.SQL("when {} then {} || chr(31) || {} || chr(31) || {}").format(
                        r.predicate, sql.Literal(r.rule), sql.Literal(r.column or ""), r.message
                    )
                    for r in checks
                )
            )
        else:
            flag = sql.SQL("null::text")
        batch_id, loaded_at = lineage
        return sql.SQL(
            "copy (select {values}, {extra}, null::bigint, {digest}, {flag},"
            " {batch_id}::bigint, {loaded_at}::timestamptz, null::text from {src})"
            " to stdout (format binary)"
        ).format(
            values=sql.SQL(", ").join(self.values),
            extra=self._extra_json(),
            digest=self._row_hash(),
            flag=flag,
            batch_id=sql.Literal(batch_id),
            loaded_at=sql.Literal(loaded_at),
            src=self._from(lower, upper, beyond if upper is not None else None),
        )


def load_sql(
    entity: EntityContract,
    source_url: str,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
) -> LoadResult:
    """Load one SQL entity's interval (incremental by watermark, or full) into raw."""
    source_tag = f"{entity.system}:{entity.source_object}"
    schema = str(entity.options["schema"])
    with connect(source_url, application="crm-extract") as src:
        src.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        src.read_only = True
        with open_batch(warehouse_url, entity, interval_start, interval_end, source_tag) as batch:
            columns = _source_columns(src, schema, entity.name)
            if not columns:
                raise LoadError(f"{source_tag}: the source has no table {schema}.{entity.name}")
            extract = SqlExtract(
                entity,
                columns,
                _key_is_unique(src, schema, entity.name, entity.primary_key),
                _hash_functions(src, {c.canonical_type for c in entity.columns}),
            )
            batch.drift("missing_columns", extract.missing)
            batch.drift("extra_columns", extract.extra)
            lower, upper = extraction_window(batch) if entity.watermark else (None, None)
            limit = interval_end + FUTURE_GRACE
            rules = extract.rules(limit)
            # Beyond the window only what is later than now is impossible: a source that
            # stands ahead of a backfilled day legitimately holds later changes.
            beyond_limit = max(limit, datetime.now(UTC) + FUTURE_GRACE)
            query = extract.copy_window(
                lower, upper, rules, extract.beyond_rule(beyond_limit), batch.lineage()
            )
            received = _stream(batch, src, query, source_tag)
            cross = tuple(r for r in entity.references if r.system != entity.system)
            if cross:
                batch.quarantine_orphans(cross)
            batch.received = received
        src.rollback()
    assert batch.result is not None
    return batch.result


def _stream(batch: Batch, src: psycopg.Connection, query: sql.Composed, source_tag: str) -> int:
    """Relay the source's binary COPY into raw in large writes; the source counts the rows.

    The rows are read with libpq's own COPY call (psycopg's ``pgconn``) in a tight loop:
    it costs the relay half the CPU of reading through psycopg's Copy object, which
    matters when the relay shares a small machine with both servers.
    """
    progress = Progress(log, f"load {source_tag} -> {batch.target_name}")
    pgconn = src.pgconn
    pgconn.send_query(query.as_bytes(src))
    started = pgconn.get_result()
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _drain(pgconn)
        raise LoadError(f"{source_tag}: the extract query failed: {_message(started)}")
    buffer = bytearray()
    messages = 0
    with batch.copy_in(binary=True, flagged=True, lineage=True) as into:
        while True:
            size, data = pgconn.get_copy_data(1)
            if size > 0:  # one row per message
                buffer += data
                messages += 1
                if len(buffer) >= RELAY_BYTES:
                    into.write(buffer)
                    buffer = bytearray()
                    progress.add(messages)
                    messages = 0
            elif size == 0:  # nothing buffered yet: wait for the server
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            else:
                break
        finished = pgconn.get_result()
        _drain(pgconn)
        if finished is None or finished.status != pq.ExecStatus.COMMAND_OK:
            raise LoadError(f"{source_tag}: the extract failed mid-stream: {_message(finished)}")
        if buffer:
            into.write(buffer)
    rows = int(finished.command_tuples or 0)
    progress.done(rows)
    return rows


def _drain(pgconn: pq.abc.PGconn) -> None:
    while pgconn.get_result() is not None:
        pass


def _message(result: pq.abc.PGresult | None) -> str:
    if result is None:
        return "no result"
    text = result.error_message.decode(errors="replace").strip()
    return text or str(result.status)
