"""Ingestion speed and memory: the loader against a server-side COPY of the same rows.

Targets (issue #4): the loader (item 3 of the issue: batch, COPY into raw with lineage,
counts and checksum, quarantine, commit; ``ingest.landing``) at least 0.8x the rows/s of a
server-side ``COPY ... FROM '<file>'`` of the same rows, measured in the same run, with
pandas ``to_sql`` for reference, at 1 and 10 million transactions; peak memory of the load
process under 1 GiB whatever the size. Extraction and load end to end (``load_sql``) is
measured too, against the same file COPY and against a server-side COPY that streams the
rows from the source database.

    .venv/bin/python bench/bench_ingest.py                   # 1M and 10M rows (minutes)
    .venv/bin/python bench/bench_ingest.py --rows 1000000    # one size
    .venv/bin/python bench/bench_ingest.py --quick           # 200k rows, a smoke run

Starts its own embedded Postgres in a temporary state folder on a free port (never the
developer's .crm), fills a source database (core_banking.transactions) server-side with
``generate_series`` (not timed), and for each size, alternating ``--repeat`` rounds, each
into a fresh warehouse database:

1. server COPY from a file: the server first writes the contract columns to a file (not
   timed), then the timed ``COPY <unindexed table of the contract columns> FROM '<file>'``,
   in text (COPY's default: the target's baseline) and in binary;
2. server COPY streaming from the source: ``COPY ... FROM PROGRAM '<psql> -c "COPY (select
   <contract columns>) TO STDOUT"'``, Postgres alone moving the rows between the databases;
3. the loader's landing path, in a child process: the SQL extractor's stream for the batch
   (its source query: window, checks, row hash, lineage) is first written by the source
   server to a file, not timed, like the baseline's input; then timed: the batch opens,
   the stream goes into ``Batch.copy_in`` in 1 MiB writes, the finish scan counts, sums
   and moves flagged rows to quarantine, and the batch commits;
4. extraction and load end to end, ``load_sql`` in a child process, over one interval
   covering every row (the first load: no lower bound), with its phases timed around the
   loader's own functions, and each side of its stream run alone on the server.

The children's peak RSS is the load process's peak memory. pandas ``read_sql`` +
``to_sql`` runs once, on a smaller slice, and its rate is extrapolated. Prints the figures;
removes its temporary folders and stops its server afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql

from ingest.config import EntityContract, load_system
from sources.core_db import create_schema
from warehouse.bootstrap import ensure_ready
from warehouse.db import connect
from warehouse.embedded import _bin_dir, server_for
from warehouse.log import setup_logging
from warehouse.migrate import migrate
from warehouse.settings import Settings, sqlalchemy_url, with_database

SYSTEM, ENTITY = "core_banking", "transactions"
FIRST_TXN = datetime(2025, 12, 1, tzinfo=UTC)
DAYS = 30
# One daily interval ending after the last transaction; the first load takes all history.
INTERVAL_END = FIRST_TXN + timedelta(days=DAYS)
INTERVAL_START = INTERVAL_END - timedelta(days=1)
ORPHAN_EVERY = 100_000  # one transaction in this many names an unknown account
ORPHAN_ACCOUNT = 999_999_999
WAREHOUSE_DB = "bench_ingest_warehouse"
GENERATE_CHUNK = 1_000_000
MIB = 2**20


def entity() -> EntityContract:
    return load_system(SYSTEM).entity(ENTITY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _columns(names: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


# --- the source --------------------------------------------------------------------------


def prepare_source(url: str, accounts: int) -> None:
    """Schema ``core`` from the contract, with customers and accounts (transactions later)."""
    customers = max(1, accounts * 4 // 5)
    with connect(url) as conn:
        conn.execute("set time zone 'UTC'")
        create_schema(conn, replace=True)
        conn.execute(
            sql.SQL(
                "insert into core.customers select i,"
                " case when i % 25 = 0 then 'corporate' else 'individual' end,"
                " 'Customer ' || i, lpad((110105194912310000 + i)::text, 18, '0'),"
                " '1' || lpad((3800000000 + i)::text, 10, '0'),"
                " case when i % 25 = 0 then null when i % 2 = 0 then 'F' else 'M' end,"
                " case when i % 25 = 0 then null else date '1950-01-01' + (i * 7919) % 20000 end,"
                " (array['Beijing', 'Shanghai', 'Guangzhou', 'Shenzhen', 'Chengdu'])[1 + i % 5],"
                " i || ' Renmin Road',"
                " (array['engineer', 'teacher', 'clerk', 'retired'])[1 + i % 4],"
                " 'BR' || lpad((i % 120)::text, 3, '0'), date '2010-01-01' + i % 5000,"
                " 'active', null, timestamptz '2025-11-30 00:00+00'"
                " from generate_series(1, {}) i"
            ).format(sql.Literal(customers))
        )
        conn.execute(
            sql.SQL(
                "insert into core.accounts select 100000 + i, 1 + i % {},"
                " (array['CUR01', 'SAV01', 'TD12', 'LN36'])[1 + i % 4],"
                " (array['current', 'savings', 'term_deposit', 'loan'])[1 + i % 4],"
                " 'CNY', 'BR' || lpad((i % 120)::text, 3, '0'), date '2012-01-01' + i % 4000,"
                " case when i % 4 >= 2 then 12 * (1 + i % 3) end,"
                " case when i % 4 >= 2 then date '2026-06-30' + i % 700 end,"
                " 0.00350 + (i % 400) / 10000.0,"
                " case when i % 4 = 3 then 10000 * (1 + i % 50) end,"
                " 'open', null, timestamptz '2025-11-30 00:00+00'"
                " from generate_series(1, {}) i"
            ).format(sql.Literal(customers), sql.Literal(accounts))
        )
        conn.execute("analyze core.customers")
        conn.execute("analyze core.accounts")


def fill_transactions(url: str, rows: int, accounts: int) -> None:
    """``rows`` transactions over DAYS days, generated by the server (not timed)."""
    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        conn.execute("set time zone 'UTC'")
        conn.execute("truncate core.transactions")
        conn.execute("select setseed(0.42)")
        for low in range(1, rows + 1, GENERATE_CHUNK):
            high = min(rows, low + GENERATE_CHUNK - 1)
            conn.execute(
                "insert into core.transactions select g,"
                " case when g %% %(orphan_every)s = 0 then %(orphan)s"
                "  else 100001 + floor(r1 * %(accounts)s)::bigint end,"
                " ts, channel, ttype, dir,"
                " round(exp(r2 * 9)::numeric, 2) + 0.01,"
                " case when r3 < 0.08 then round((r3 * 60)::numeric, 2) else 0 end,"
                " round((r4 * 250000)::numeric, 2),"
                " case when ttype like 'transfer%%'"
                "  then (array['ICBC', 'CCB', 'BOC', 'ABC', 'BOCOM', 'CMB'])[1 + (g %% 6)::int]"
                " end,"
                " case when ttype like 'transfer%%'"
                "  then '6222' || lpad(floor(r5 * 1e15)::bigint::text, 15, '0') end,"
                " r5 < 0.02, ts"
                " from (select g, r1, r2, r3, r4, r5,"
                "  %(first)s + (g - 1) * (%(span)s / %(rows)s) * interval '1 second' as ts,"
                "  (array['branch', 'atm', 'mobile', 'mobile', 'online', 'pos', 'pos'])"
                "   [1 + floor(r2 * 7)::int] as channel,"
                "  case when r3 < 0.45 then 'C' else 'D' end as dir,"
                "  case when r3 < 0.45"
                "   then (array['salary', 'transfer_in', 'cash_deposit'])[1 + floor(r4 * 3)::int]"
                "   else (array['payment', 'payment', 'transfer_out', 'cash_withdrawal',"
                "    'loan_repayment'])[1 + floor(r4 * 5)::int] end as ttype"
                "  from (select g, random() r1, random() r2, random() r3, random() r4,"
                "   random() r5 from generate_series(%(low)s::bigint, %(high)s) g) s) x",
                {
                    "orphan_every": ORPHAN_EVERY,
                    "orphan": ORPHAN_ACCOUNT,
                    "accounts": accounts,
                    "first": FIRST_TXN,
                    "span": DAYS * 86400.0,
                    "rows": rows,
                    "low": low,
                    "high": high,
                },
            )
            say(f"  generated {high:,} of {rows:,} transactions")
        say("  vacuum analyze core.transactions")
        conn.execute("vacuum (analyze) core.transactions")
        size = conn.execute("select pg_total_relation_size('core.transactions')").fetchone()[0]
    say(
        f"  source ready: {rows:,} transactions, {size / MIB:,.0f} MiB with indexes,"
        f" in {time.perf_counter() - started:,.0f} s (not measured)"
    )


# --- server-side COPY ----------------------------------------------------------------------


def checkpoint(url: str) -> None:
    """Flush dirty pages so one measurement does not pay for the previous one's writes."""
    with connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def timed(url: str, statement: sql.Composable, *, setup: sql.Composable | None = None) -> float:
    """Seconds to run one statement in its own transaction, commit included."""
    with connect(url) as conn:
        if setup is not None:
            conn.execute(setup)
        started = time.perf_counter()
        conn.execute(statement)
        conn.commit()
        return time.perf_counter() - started


def contract_table(warehouse_url: str, name: str) -> None:
    """A fresh table ``bench.<name>`` of the contract columns and types, without indexes."""
    with connect(warehouse_url) as conn:
        conn.execute("create schema if not exists bench")
        conn.execute(sql.SQL("drop table if exists bench.{}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("create table bench.{} ({})").format(
                sql.Identifier(name),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type))
                    for c in entity().columns
                ),
            )
        )


def _format(binary: bool) -> sql.Composable:
    return sql.SQL("(format binary)" if binary else "(format text)")


def export_file(source_url: str, path: Path, binary: bool = False) -> float:
    """Seconds for the server to write the contract columns of every row to ``path``."""
    checkpoint(source_url)
    return timed(
        source_url,
        sql.SQL("copy (select {} from core.transactions) to {} {}").format(
            _columns(entity().column_names), sql.Literal(str(path)), _format(binary)
        ),
    )


def copy_from_file(warehouse_url: str, path: Path, binary: bool = False) -> float:
    """Seconds of the server-side COPY FROM ``path`` into a fresh table without indexes."""
    contract_table(warehouse_url, "server_copy")
    checkpoint(warehouse_url)
    seconds = timed(
        warehouse_url,
        sql.SQL("copy bench.server_copy ({}) from {} {}").format(
            _columns(entity().column_names), sql.Literal(str(path)), _format(binary)
        ),
    )
    with connect(warehouse_url) as conn:
        conn.execute("drop table bench.server_copy")
    return seconds


def copy_from_source(source_url: str, warehouse_url: str, binary: bool = False) -> float:
    """Seconds of a server-side COPY that streams the rows straight from the source database.

    ``COPY ... FROM PROGRAM`` runs the server's own psql, which reads the source with
    ``COPY (select <contract columns>) TO STDOUT``: Postgres's native way to move the rows
    between the two databases. It does the loader's whole job (read the source, write the
    warehouse) on the same machine, without validation, row hash or lineage.
    """
    contract_table(warehouse_url, "server_stream")
    checkpoint(warehouse_url)
    extract = sql.SQL("copy (select {} from core.transactions) to stdout {}").format(
        _columns(entity().column_names), _format(binary)
    )
    with connect(source_url) as conn:
        extract_text = extract.as_string(conn)
    program = " ".join(
        shlex.quote(part)
        for part in (
            str(_bin_dir() / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            source_url,
            "-c",
            extract_text,
        )
    )
    seconds = timed(
        warehouse_url,
        sql.SQL("copy bench.server_stream ({}) from program {} {}").format(
            _columns(entity().column_names), sql.Literal(program), _format(binary)
        ),
    )
    with connect(warehouse_url) as conn:
        copied = conn.execute("select count(*) from bench.server_stream").fetchone()[0]
        conn.execute("drop table bench.server_stream")
    if copied != entity_rows(source_url):
        raise RuntimeError(f"the streaming COPY copied {copied:,} rows, not every source row")
    return seconds


def entity_rows(source_url: str) -> int:
    with connect(source_url) as conn:
        return conn.execute("select count(*) from core.transactions").fetchone()[0]


def loader_query(source_url: str, lineage: tuple[int, datetime], path: Path) -> str:
    """The loader's own source query (window, checks, row hash, lineage), writing to
    ``path`` on the server instead of to the loader."""
    from ingest.extract_sql import SqlExtract, _hash_functions, _source_columns
    from ingest.landing import FUTURE_GRACE

    contract = entity()
    with connect(source_url) as conn:
        columns = _source_columns(conn, "core", "transactions")
        types = {c.canonical_type for c in contract.columns}
        extract = SqlExtract(contract, columns, True, _hash_functions(conn, types))
        limit = INTERVAL_END + FUTURE_GRACE
        beyond = extract.beyond_rule(max(limit, datetime.now(UTC) + FUTURE_GRACE))
        query = extract.copy_window(None, INTERVAL_END, extract.rules(limit), beyond, lineage)
        text = query.as_string(conn)
        suffix = " to stdout (format binary)"
        if not text.endswith(suffix):
            raise RuntimeError(f"unexpected shape of the loader's query: ...{text[-40:]}")
        return (
            text[: -len(suffix)] + f" to {sql.Literal(str(path)).as_string(conn)} (format binary)"
        )


def stream_sides(source_url: str, warehouse_url: str, folder: Path) -> dict[str, float]:
    """Each side of the loader's stream alone on the server: its source query, its target.

    The source side is the loader's own COPY query (hash, validation, lineage) written to
    a server file; the target side is a COPY of that file into a table shaped like the raw
    table (same columns and index). Run after the loader, whose raw table it copies.
    """
    from ingest.landing import copy_columns

    path = folder / "extract.copy"
    checkpoint(source_url)
    source_s = timed(source_url, sql.SQL(loader_query(source_url, (1, INTERVAL_END), path)))
    with connect(warehouse_url) as conn:
        conn.execute("create schema if not exists bench")
        conn.execute("drop table if exists bench.raw_shape")
        conn.execute(
            sql.SQL(
                "create table bench.raw_shape (like raw.{} including defaults including indexes)"
            ).format(sql.Identifier(entity().raw_table))
        )
    checkpoint(warehouse_url)
    target_s = timed(
        warehouse_url,
        sql.SQL("copy bench.raw_shape ({}) from {} (format binary)").format(
            copy_columns(entity(), flagged=True, lineage=True), sql.Literal(str(path))
        ),
    )
    size = path.stat().st_size
    path.unlink()
    with connect(warehouse_url) as conn:
        conn.execute("drop table bench.raw_shape")
    return {"source_s": source_s, "target_s": target_s, "file_bytes": size}


# --- the loader, in a child process ----------------------------------------------------------


def run_child(mode: str, job: dict[str, Any]) -> dict[str, Any]:
    """``child_load`` or ``child_land`` in a child process; its figures and peak RSS,
    read from its last line."""
    checkpoint(job["warehouse"])
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), f"--child-{mode}", json.dumps(job)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load process failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wrap(owner: Any, name: str, marks: dict[str, float]) -> None:
    """Record when ``owner.name`` is first entered and last left (timing only)."""
    original: Callable[..., Any] | None = getattr(owner, name, None)
    if original is None:
        return

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        marks.setdefault(f"{name}>", time.perf_counter())
        try:
            return original(*args, **kwargs)
        finally:
            marks[f"{name}<"] = time.perf_counter()

    setattr(owner, name, timed_call)


def child_load(job: dict[str, Any]) -> None:
    """Runs in the child: one load over every row, then figures as one JSON line."""
    import ingest.extract_sql as extract_sql
    from ingest.landing import Batch

    setup_logging("WARNING" if job["quiet"] else "INFO")
    marks: dict[str, float] = {}
    _wrap(extract_sql, "_stream", marks)
    _wrap(Batch, "_move_flagged", marks)
    _wrap(Batch, "_finish", marks)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = extract_sql.load_sql(
        entity(), job["source"], job["warehouse"], INTERVAL_START, INTERVAL_END
    )
    marks["end"] = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "seconds": marks["end"] - started,
        "marks": {k: v - started for k, v in marks.items()},
        "received": result.rows_received,
        "loaded": result.rows_loaded,
        "quarantined": result.rows_quarantined,
        "maxrss_kib": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
    }
    print(json.dumps(figures), flush=True)


def child_land(job: dict[str, Any]) -> None:
    """Runs in the child: the loader's landing path (batch, COPY into raw, count and
    checksum scan, flagged rows to quarantine, commit) fed the SQL extractor's stream.

    The source writes that stream, with this batch's lineage, to a server file first (not
    timed, like the server COPY's input file); the timed part is the batch's opening and
    everything from the first write to the commit."""
    from ingest.landing import open_batch

    setup_logging("WARNING" if job["quiet"] else "INFO")
    contract = entity()
    path = Path(job["folder"]) / "landing.copy"
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with open_batch(
        job["warehouse"], contract, INTERVAL_START, INTERVAL_END, "core_banking:core.transactions"
    ) as batch:
        opened = time.perf_counter() - started
        with connect(job["source"]) as source:
            received = source.execute(loader_query(job["source"], batch.lineage(), path)).rowcount
        # The file just written must not be flushed to disk while the timed part runs
        # (the baseline's input was written long before), nor may the warehouse owe a
        # checkpoint: as the baseline, start from flushed pages.
        os.sync()
        checkpoint(job["warehouse"])
        writing = time.perf_counter()
        with batch.copy_in(binary=True, flagged=True, lineage=True) as into, path.open("rb") as f:
            while chunk := f.read(1 << 20):
                into.write(chunk)
        batch.received = received
    end = time.perf_counter()
    path.unlink()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = batch.result
    assert result is not None
    figures = {
        "seconds": opened + end - writing,
        "received": result.rows_received,
        "loaded": result.rows_loaded,
        "quarantined": result.rows_quarantined,
        "maxrss_kib": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
    }
    print(json.dumps(figures), flush=True)


def phases(load: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of the load, from the marks taken around the loader's functions."""
    m = load["marks"]
    points = [
        ("setup (connect, batch, raw table)", m.get("_stream>")),
        ("stream COPY out -> COPY in", m.get("_stream<")),
        ("other", m.get("_finish>")),
        ("one scan: count, checksum, flagged rows", m.get("_move_flagged>")),
        ("flagged rows moved to quarantine", m.get("_move_flagged<")),
        ("balance check, batch record", m.get("_finish<")),
        ("commit, unlock, close", m["end"]),
    ]
    found: dict[str, float] = {}
    last = 0.0
    for name, point in points:
        if point is None:
            continue
        found[name] = point - last
        last = point
    return found


# --- pandas reference -----------------------------------------------------------------------


def pandas_reference(source_url: str, warehouse_url: str, rows: int) -> dict[str, float]:
    """pandas read_sql of ``rows`` transactions, then to_sql into a table of the contract types."""
    import pandas as pd
    import sqlalchemy

    names = entity().column_names
    contract_table(warehouse_url, "pandas_target")
    source = sqlalchemy.create_engine(sqlalchemy_url(source_url))
    target = sqlalchemy.create_engine(sqlalchemy_url(warehouse_url))
    try:
        started = time.perf_counter()
        frame = pd.read_sql(
            f"select {', '.join(names)} from core.transactions order by txn_id limit {rows}",
            source,
        )
        read_s = time.perf_counter() - started
        checkpoint(warehouse_url)
        started = time.perf_counter()
        frame.to_sql("pandas_target", target, schema="bench", if_exists="append", index=False)
        write_s = time.perf_counter() - started
    finally:
        source.dispose()
        target.dispose()
    return {"rows": len(frame), "read_s": read_s, "write_s": write_s}


# --- the run --------------------------------------------------------------------------------


def fresh_warehouse(settings: Settings) -> str:
    with connect(settings.server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(WAREHOUSE_DB))
        )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(WAREHOUSE_DB)))
    url = with_database(settings.warehouse_url, WAREHOUSE_DB)
    migrate(url)
    return url


def check_landed(warehouse_url: str, rows: int, load: dict[str, Any]) -> None:
    """Every row received, the orphans quarantined, the rest in raw."""
    with connect(warehouse_url) as conn:
        landed = conn.execute(
            sql.SQL("select count(*) from raw.{}").format(sql.Identifier(entity().raw_table))
        ).fetchone()[0]
    orphans = rows // ORPHAN_EVERY
    expected = (rows, rows - orphans, orphans, rows - orphans)
    got = (load["received"], load["loaded"], load["quarantined"], landed)
    if got != expected:
        raise RuntimeError(
            f"(received, loaded, quarantined, rows in raw) = {got}, expected {expected}"
        )


def measure(settings: Settings, rows: int, args: argparse.Namespace, folder: Path) -> dict:
    """Server COPY and loader, alternating ``repeat`` times (best of each), then the sides."""
    source_url = settings.core_banking_url
    say(f"{rows:,} transactions: generating the source")
    fill_transactions(source_url, rows, args.accounts)
    path = folder / "transactions.copy"
    binary_path = folder / "transactions.bin"
    say(f"{rows:,} transactions: server COPY TO files, text and binary (the baselines' input)")
    export_s = export_file(source_url, path)
    export_file(source_url, binary_path, binary=True)
    copies: list[float] = []
    binary_copies: list[float] = []
    streams: list[float] = []
    binary_streams: list[float] = []
    lands: list[dict[str, Any]] = []
    loads: list[dict[str, Any]] = []
    for round_ in range(1, args.repeat + 1):
        warehouse_url = fresh_warehouse(settings)
        say(f"{rows:,} transactions, round {round_}: server COPY streaming from the source")
        streams.append(copy_from_source(source_url, warehouse_url))
        binary_streams.append(copy_from_source(source_url, warehouse_url, binary=True))
        say(
            f"  text {streams[-1]:,.1f} s ({rows / streams[-1]:,.0f} rows/s), binary "
            f"{binary_streams[-1]:,.1f} s ({rows / binary_streams[-1]:,.0f} rows/s)"
        )
        say(f"{rows:,} transactions, round {round_}: server COPY FROM the files")
        copies.append(copy_from_file(warehouse_url, path))
        binary_copies.append(copy_from_file(warehouse_url, binary_path, binary=True))
        say(
            f"  text {copies[-1]:,.1f} s ({rows / copies[-1]:,.0f} rows/s), binary "
            f"{binary_copies[-1]:,.1f} s ({rows / binary_copies[-1]:,.0f} rows/s)"
        )
        job = {
            "source": source_url,
            "warehouse": warehouse_url,
            "quiet": args.quiet,
            "folder": str(folder),
        }
        say(f"{rows:,} transactions, round {round_}: the loader's landing path, a child process")
        land = run_child("land", job)
        check_landed(warehouse_url, rows, land)
        lands.append(land)
        say(f"  {land['seconds']:,.1f} s ({land['received'] / land['seconds']:,.0f} rows/s)")
        warehouse_url = fresh_warehouse(settings)
        say(f"{rows:,} transactions, round {round_}: extract and load (load_sql), a child process")
        load = run_child("load", {**job, "warehouse": warehouse_url})
        check_landed(warehouse_url, rows, load)
        loads.append(load)
        say(f"  {load['seconds']:,.1f} s ({load['received'] / load['seconds']:,.0f} rows/s)")
    copy = {
        "export_s": export_s,
        "import_s": min(copies),
        "binary_import_s": min(binary_copies),
        "stream_s": min(streams),
        "binary_stream_s": min(binary_streams),
        "file_bytes": path.stat().st_size,
    }
    path.unlink()
    binary_path.unlink()
    load = min(loads, key=lambda x: x["seconds"])
    load["maxrss_kib"] = max(x["maxrss_kib"] for x in loads)
    land = min(lands, key=lambda x: x["seconds"])
    land["maxrss_kib"] = max(x["maxrss_kib"] for x in lands)
    say(f"{rows:,} transactions: each side of the loader's stream alone on the server")
    sides = stream_sides(source_url, warehouse_url, folder)
    return {"rows": rows, "copy": copy, "load": load, "land": land, "sides": sides}


def report(
    results: list[dict[str, Any]], pandas: dict[str, float] | None, header: list[str]
) -> None:
    sizes = [r["rows"] for r in results]
    width = 14

    def line(label: str, values: list[str]) -> None:
        print(f"{label:<50}" + "".join(f"{v:>{width}}" for v in values))

    def rate(rows: int, seconds: float) -> str:
        return f"{rows / seconds:,.0f}"

    print()
    for text in header:
        print(text)
    print()
    line("transactions", [f"{n:,}" for n in sizes])

    def versus(label: str, key: str, what: str, target: bool = False) -> None:
        """A baseline's seconds and rows/s, and ``what`` ("land" or "load") against it."""
        line(f"{label}: seconds", [f"{r['copy'][key]:,.1f}" for r in results])
        line(f"{label}: rows/s", [rate(r["rows"], r["copy"][key]) for r in results])
        ratios = [
            (r[what]["received"] / r[what]["seconds"]) / (r["rows"] / r["copy"][key])
            for r in results
        ]
        name = "loader (landing path)" if what == "land" else "extract + load"
        suffix = " (target >= 0.80)" if target else ""
        line(f"  {name} / this{suffix}", [f"{x:.2f}x" for x in ratios])

    print("the loader: batch, COPY into raw with lineage, count and checksum, quarantine, commit")
    line("loader landing path: seconds", [f"{r['land']['seconds']:,.1f}" for r in results])
    line(
        "loader landing path: rows/s",
        [rate(r["land"]["received"], r["land"]["seconds"]) for r in results],
    )
    versus("server COPY FROM file, text", "import_s", "land", target=True)
    versus("server COPY FROM file, binary", "binary_import_s", "land")
    line(
        "  server COPY TO file (their input, not timed): s",
        [f"{r['copy']['export_s']:,.1f}" for r in results],
    )
    print()
    print("extract and load end to end: load_sql, the source query on the same two cores")
    line("load_sql: seconds", [f"{r['load']['seconds']:,.1f}" for r in results])
    line("load_sql: rows/s", [rate(r["load"]["received"], r["load"]["seconds"]) for r in results])
    versus("server COPY FROM PROGRAM psql, text", "stream_s", "load")
    versus("server COPY FROM PROGRAM psql, binary", "binary_stream_s", "load")
    versus("server COPY FROM file, text", "import_s", "load")
    print()
    line(
        "peak RSS of the load process, MiB (target < 1024)",
        [f"{max(r['load']['maxrss_kib'], r['land']['maxrss_kib']) / 1024:,.0f}" for r in results],
    )
    if pandas:
        pandas_rate = pandas["rows"] / pandas["write_s"]
        both_rate = pandas["rows"] / (pandas["read_s"] + pandas["write_s"])
        line(
            f"pandas to_sql: rows/s (at {pandas['rows']:,}, extrap.)",
            [f"{pandas_rate:,.0f}" for _ in results],
        )
        line("pandas to_sql: seconds (extrapolated)", [f"{n / pandas_rate:,.0f}" for n in sizes])
        line(
            "  loader (landing path) / pandas to_sql",
            [
                f"{r['land']['received'] / r['land']['seconds'] / pandas_rate:,.1f}x"
                for r in results
            ],
        )
        line(
            "pandas read_sql + to_sql: rows/s (extrap.)",
            [f"{both_rate:,.0f}" for _ in results],
        )
        line(
            "  extract + load / pandas read_sql + to_sql",
            [f"{r['load']['received'] / r['load']['seconds'] / both_rate:,.1f}x" for r in results],
        )
    print()
    print("where load_sql's time goes (seconds)")
    names: list[str] = []
    for r in results:
        for name in phases(r["load"]):
            if name not in names:
                names.append(name)
    for name in names:
        line(f"  {name}", [f"{phases(r['load']).get(name, 0.0):,.1f}" for r in results])
    line("  total", [f"{r['load']['seconds']:,.1f}" for r in results])
    line(
        "  CPU seconds of the load process (the relay)",
        [f"{r['load']['cpu_s']:,.1f}" for r in results],
    )
    print()
    print("each side of the stream alone, on the server (seconds)")
    line(
        "  source: loader's query (hash, checks) to file",
        [f"{r['sides']['source_s']:,.1f}" for r in results],
    )
    line(
        "  source: plain select of the columns to file",
        [f"{r['copy']['export_s']:,.1f}" for r in results],
    )
    line(
        "  target: COPY FROM file into a raw-shaped table",
        [f"{r['sides']['target_s']:,.1f}" for r in results],
    )
    line(
        "  target: COPY FROM file, contract columns only",
        [f"{r['copy']['import_s']:,.1f}" for r in results],
    )
    line(
        "  bytes per row: plain / loader's stream",
        [
            f"{r['copy']['file_bytes'] / r['rows']:.0f} / "
            f"{r['sides']['file_bytes'] / r['load']['loaded']:.0f}"
            for r in results
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="sizes to load"
    )
    parser.add_argument("--quick", action="store_true", help="one smoke run of 200,000 rows")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="rounds of server COPY and loader at each size, alternating; the best counts",
    )
    parser.add_argument(
        "--pandas-rows", type=int, default=200_000, help="rows for the pandas to_sql reference"
    )
    parser.add_argument("--no-pandas", action="store_true")
    parser.add_argument("--state-dir", type=Path, help="default: a temporary folder, removed")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--quiet", action="store_true", help="no progress lines from the loader")
    parser.add_argument("--child-load", help=argparse.SUPPRESS)
    parser.add_argument("--child-land", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        child_load(json.loads(args.child_load))
        return
    if args.child_land:
        child_land(json.loads(args.child_land))
        return
    sizes = [200_000] if args.quick else args.rows
    setup_logging("WARNING")
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    files = Path(tempfile.mkdtemp(prefix="bench-ingest-copy-"))
    files.chmod(0o777)  # the server writes and reads its COPY files here, as its own user
    settings = Settings.from_env(
        {
            "CRM_STATE_DIR": str(state),
            "CRM_PG_PORT": str(args.port or free_port()),
            "CRM_LOG_LEVEL": "WARNING",
        }
    )
    try:
        say(f"starting an embedded Postgres in {state} on port {settings.pg_port}")
        ensure_ready(settings)
        with connect(settings.server_url) as conn:
            version = conn.execute("show server_version").fetchone()[0]
        prepare_source(settings.core_banking_url, args.accounts)
        load_before = os.getloadavg()[0]
        results = [measure(settings, n, args, files) for n in sizes]
        pandas = None
        if not args.no_pandas:
            rows = min(args.pandas_rows, sizes[-1])
            say(f"pandas read_sql + to_sql of {rows:,} transactions (reference)")
            pandas = pandas_reference(
                settings.core_banking_url, with_database(settings.warehouse_url, WAREHOUSE_DB), rows
            )
        header = [
            f"ingest benchmark: {SYSTEM}.{ENTITY} ({len(entity().columns)} columns),"
            f" {args.accounts:,} accounts, one in {ORPHAN_EVERY:,} transactions orphaned",
            f"embedded Postgres {version}, source and warehouse databases on one server;"
            f" {os.cpu_count()} CPUs, load average {load_before:.1f} at start,"
            f" {os.getloadavg()[0]:.1f} at end",
            "rows/s counts rows received (loaded + quarantined); server COPY copies the"
            " contract columns only, into a table without indexes",
            f"best of {args.repeat} alternating rounds of server COPY and loader at each size;"
            " peak RSS is the largest of the rounds",
        ]
        if pandas:
            header.append(
                f"pandas measured once at {pandas['rows']:,} rows (read_sql"
                f" {pandas['read_s']:.1f} s, to_sql {pandas['write_s']:.1f} s);"
                " its rates at the larger sizes are extrapolated, not measured"
            )
        report(results, pandas, header)
    finally:
        if settings.embedded:
            server_for(settings).stop()
        shutil.rmtree(files, ignore_errors=True)
        if args.state_dir is None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
