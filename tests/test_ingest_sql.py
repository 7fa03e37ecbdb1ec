"""SQL ingestion from the demo core-banking database: exact, incremental, idempotent, robust.

The source is the demo bank's real Postgres database, advanced day by day; every
expectation is computed from the source tables with plain SQL, not by the loader's code.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import fresh_database
from psycopg.types.json import Jsonb

from ingest.config import load_system
from ingest.extract_sql import load_sql
from ingest.intervals import business_day
from ingest.landing import LoadError, ensure_raw_table
from ingest.load import Sources, load_entity
from sources.core_db import create_schema
from sources.demo_bank.bank import advance, generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.people import gb11643_check_digit
from warehouse.db import connect
from warehouse.migrate import migrate
from warehouse.settings import Settings

START = date(2024, 1, 1)
FIRST_DAY = date(2024, 2, 12)
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(4)]
CORE = load_system("core_banking")
# Columns whose sums are compared, per entity (money, where there is some).
SUMS = {
    "customers": "customer_id",
    "accounts": "principal",
    "transactions": "amount",
    "balances": "end_balance",
    "loan_status": "outstanding",
}


@pytest.fixture(scope="module")
def source_url(settings: Settings) -> str:
    return fresh_database(settings, "scratch_ingest_sql_source")


@pytest.fixture(scope="module")
def bank(source_url: str, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    layout = Layout(tmp_path_factory.mktemp("demo-bank"))
    cfg = DemoBankConfig(customers=150, months=3, seed=11, start=START)
    generate(cfg, layout, source_url, as_of=FIRST_DAY)
    return layout


def _latest_in_raw(url: str, entity: str) -> tuple[int, str, int]:
    """(keys, sum, rows) of the latest version per key in raw."""
    contract = CORE.entity(entity)
    key = ", ".join(contract.primary_key)
    column = SUMS[entity]
    with connect(url) as conn:
        return conn.execute(
            f"select count(*), coalesce(sum(v), 0)::text,"
            f" (select count(*) from raw.{contract.raw_table}) from ("
            f" select distinct on ({key}) {column} as v from raw.{contract.raw_table}"
            f" order by {key}, updated_at desc, _batch_id desc) latest"
        ).fetchone()


def _in_source(url: str, entity: str, until: date) -> tuple[int, str]:
    contract = CORE.entity(entity)
    column, watermark = SUMS[entity], contract.watermark
    with connect(url) as conn:
        return conn.execute(
            f"select count(*), coalesce(sum({column}), 0)::text from core.{entity}"
            f" where {watermark} < %s",
            (datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1),),
        ).fetchone()


def test_national_ids_carry_valid_check_digits(source_url: str, bank: Layout) -> None:
    with connect(source_url) as conn:
        ids = [r[0] for r in conn.execute("select national_id from core.customers")]
    ids = [i for i in ids if len(i) == 18 and i[:2] != "91"]  # corporates carry credit codes
    assert ids and all(gb11643_check_digit(i[:17]) == i[17] for i in ids)
    # The published example number 11010519491231002X has check digit X.
    assert gb11643_check_digit("11010519491231002") == "X"


def test_full_load_then_increments_then_rerun_equal_the_source(
    source_url: str, bank: Layout, scratch_warehouse: str
) -> None:
    url = scratch_warehouse
    sources = Sources({"core_banking": source_url}, bank.data_dir)
    results = {}
    for day in DAYS:
        if day != FIRST_DAY:
            advance(bank, source_url, day)
        for name, entity in CORE.entities.items():
            results[name, day] = load_entity(entity, sources, url, *business_day(day))
    first = results["transactions", FIRST_DAY]
    daily = [results["transactions", d].rows_received for d in DAYS[1:]]
    assert all(daily), "each later day brings its own transactions"
    assert first.rows_received > 10 * max(daily), "the first day loads the whole history"
    assert any(results["customers", d].rows_loaded for d in DAYS[1:]), "changes flow daily"

    # A past day again, after later days were loaded: replaced, not duplicated.
    before = {name: _latest_in_raw(url, name) for name in CORE.entities}
    rerun = load_entity(CORE.entity("transactions"), sources, url, *business_day(DAYS[1]))
    assert rerun.replaced_batches == 1
    assert rerun.checksum == results["transactions", DAYS[1]].checksum
    for name in CORE.entities:
        load_entity(CORE.entity(name), sources, url, *business_day(DAYS[1]))
    after = {name: _latest_in_raw(url, name) for name in CORE.entities}
    assert after == before

    for name in CORE.entities:
        keys, total, _ = after[name]
        assert (keys, total) == _in_source(source_url, name, DAYS[-1]), name
    # Transactions never change: every row once, nothing twice.
    assert after["transactions"][0] == after["transactions"][2]

    with connect(url) as conn:
        unbalanced = conn.execute(
            "select count(*) from ops.load_batches where status = 'committed'"
            " and rows_received <> rows_loaded + rows_quarantined"
        ).fetchone()[0]
        actual = conn.execute(
            "select b.rows_loaded, (select count(*) from raw.core_banking__transactions t"
            " where t._batch_id = b.batch_id) from ops.load_batches b"
            " where b.target_table = 'raw.core_banking__transactions' and status = 'committed'"
        ).fetchall()
        watermark = conn.execute(
            "select watermark_value::timestamptz from ops.watermarks"
            " where source_object = 'core.transactions'"
        ).fetchone()[0]
        source_max = None
    with connect(source_url) as conn:
        source_max = conn.execute(
            "select max(txn_ts) from core.transactions where txn_ts < %s",
            (business_day(DAYS[-1])[1],),
        ).fetchone()[0]
    assert unbalanced == 0
    assert all(recorded == landed for recorded, landed in actual)
    assert watermark == source_max, "the watermark is the newest change loaded"


def test_missing_required_source_column_fails_the_batch_and_names_it(
    settings: Settings, bank: Layout, source_url: str
) -> None:
    url = fresh_database(settings, "scratch_ingest_sql_drift")
    migrate(url)
    drifted = fresh_database(settings, "scratch_ingest_sql_drifted_source")
    with connect(source_url) as src, connect(drifted) as dst:
        rows = src.execute("select * from core.customers order by customer_id").fetchall()
        columns = [d.name for d in src.execute("select * from core.customers limit 0").description]
        create_schema(dst, replace=True)
        with dst.cursor().copy(f"copy core.customers ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
        # Drift: the source adds a column and drops a nullable one.
        dst.execute("alter table core.customers add column loyalty_tier text default 'gold'")
        dst.execute("alter table core.customers drop column occupation")
    customers = CORE.entity("customers")
    day = business_day(DAYS[-1])  # the bank stands there: every row is in the window
    result = load_sql(customers, drifted, url, *day)
    assert result.rows_loaded == len(rows)
    assert result.schema_drift == {
        "extra_columns": ["loyalty_tier"],
        "missing_columns": ["occupation"],
    }
    with connect(url) as conn:
        kept = conn.execute(
            "select count(*) from raw.core_banking__customers"
            " where _extra ->> 'loyalty_tier' = 'gold' and occupation is null"
        ).fetchone()[0]
        recorded = conn.execute(
            "select schema_drift from ops.load_batches where batch_id = %s", (result.batch_id,)
        ).fetchone()[0]
    assert kept == len(rows)
    assert recorded["extra_columns"] == ["loyalty_tier"]

    # A source value that cannot be cast to the contract's type stops the stream clearly.
    with connect(drifted) as dst:
        dst.execute("alter table core.customers alter column birth_date type text")
        dst.execute(
            "update core.customers set birth_date = 'unknown' where customer_id ="
            " (select max(customer_id) from core.customers)"
        )
    with pytest.raises(LoadError, match="invalid input syntax for type date") as failure:
        load_sql(customers, drifted, url, *day)
    assert "core_banking:core.customers" in str(failure.value)
    with connect(drifted) as dst:
        dst.execute("update core.customers set birth_date = null where birth_date = 'unknown'")
        dst.execute(
            "alter table core.customers alter column birth_date type date using birth_date::date"
        )

    # A change stamped in the future would never fall in any window: reported, not lost.
    with connect(drifted) as dst:
        dst.execute(
            "update core.customers set updated_at = '2099-05-01' where customer_id ="
            " (select min(customer_id) from core.customers)"
        )
    again = load_sql(customers, drifted, url, *day)
    assert (again.rows_received, again.rows_loaded, again.rows_quarantined) == (
        len(rows),
        len(rows) - 1,
        1,
    )
    with connect(url) as conn:
        rule, column, message = conn.execute(
            "select rule, column_name, message from quarantine.rejected_rows where batch_id = %s",
            (again.batch_id,),
        ).fetchone()
    assert (rule, column) == ("future_date", "updated_at") and "2099-05-01" in message

    with connect(drifted) as dst:
        dst.execute("alter table core.customers drop column branch_code")
    with pytest.raises(LoadError, match="branch_code") as failure:
        load_sql(customers, drifted, url, *day)
    assert "core.customers" in str(failure.value)
    with connect(url) as conn:
        status, message = conn.execute(
            "select status, message from ops.load_batches order by batch_id desc limit 1"
        ).fetchone()
        still = conn.execute("select count(*) from raw.core_banking__customers").fetchone()[0]
    assert status == "failed" and "branch_code" in message
    assert still == len(rows) - 1, "a failed batch leaves raw as it was"


# --- killed mid-stream ---------------------------------------------------------------------


def _load_in_child(source: str, warehouse: str, day: date) -> None:
    load_sql(CORE.entity("transactions"), source, warehouse, *business_day(day))


def _copy_progress(url: str) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select coalesce(max(tuples_processed), 0) from pg_stat_progress_copy"
            " where relid = 'raw.core_banking__transactions'::regclass"
        ).fetchone()
    return int(row[0])


def test_a_load_killed_mid_stream_reruns_to_the_exact_result(
    settings: Settings, tmp_path: Path
) -> None:
    source = fresh_database(settings, "scratch_ingest_sql_kill_source")
    url = fresh_database(settings, "scratch_ingest_sql_kill")
    migrate(url)
    day = date(2024, 3, 1)
    start, end = business_day(day)
    with connect(source) as conn:
        create_schema(conn, replace=True)
        conn.execute(
            "insert into core.customers (customer_id, customer_type, full_name, branch_code,"
            " joined_on, status, updated_at) values (1, 'individual', 'test', 'B01',"
            " '2020-01-01', 'active', '2020-01-01')"
        )
        conn.execute(
            "insert into core.accounts (account_id, customer_id, product_code, account_type,"
            " currency, branch_code, opened_on, interest_rate, status, updated_at)"
            " select a, 1, 'CUR', 'current', 'CNY', 'B01', '2020-01-01', 0, 'open', '2020-01-01'"
            " from generate_series(1, 100) a"
        )
        conn.execute(
            "insert into core.transactions select i, 1 + mod(i, 100),"
            " %s::timestamptz + mod(i, 86000) * interval '1 second', 'mobile', 'transfer', 'D',"
            " mod(i, 9973) / 100.0, 0, 0, null, null, false,"
            " %s::timestamptz + mod(i, 86000) * interval '1 second'"
            " from generate_series(1, 1500000) i",
            (start, start),
        )
        expected = conn.execute(
            "select count(*), sum(amount)::text from core.transactions"
        ).fetchone()
    # Prime the raw table so the child's COPY can be watched from the start.
    with connect(url) as conn:
        ensure_raw_table(conn, CORE.entity("transactions"))
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_load_in_child, args=(source, url, day))
    child.start()
    deadline = time.monotonic() + 120
    while _copy_progress(url) < 200_000:
        assert child.is_alive(), "the load finished before it could be killed"
        assert time.monotonic() < deadline, "the load never got going"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    with connect(url) as conn:
        landed = conn.execute("select count(*) from raw.core_banking__transactions").fetchone()[0]
        watermarks = conn.execute("select count(*) from ops.watermarks").fetchone()[0]
    assert landed == 0 and watermarks == 0, "nothing of a killed batch is visible"

    result = load_sql(CORE.entity("transactions"), source, url, start, end)
    with connect(url) as conn:
        totals = conn.execute(
            "select count(*), sum(amount)::text, count(distinct txn_id)"
            " from raw.core_banking__transactions"
        ).fetchone()
        statuses = conn.execute(
            "select status, message from ops.load_batches order by batch_id"
        ).fetchall()
    assert totals == (*expected, expected[0])
    assert result.rows_loaded == expected[0]
    assert statuses[0][0] == "failed" and "abandoned" in statuses[0][1]
    assert statuses[-1][0] == "committed"
    assert end > start  # the window was the business day of the logical date


def test_raw_tables_of_an_older_shape_are_brought_to_the_contract(
    settings: Settings, bank: Layout, source_url: str
) -> None:
    """Binary loads need the raw table's types to be the contract's: older tables adapt."""
    url = fresh_database(settings, "scratch_ingest_sql_upgrade")
    migrate(url)
    with connect(url) as conn:
        conn.execute(
            "create table raw.core_banking__loan_status (account_id integer,"
            " status_month date, outstanding numeric, days_past_due integer,"
            " five_tier_class text, updated_at timestamptz, _batch_id bigint,"
            " _loaded_at timestamptz default now(), _source text, _row_hash text)"
        )
        conn.execute(
            "insert into raw.core_banking__loan_status values (1, '2020-01-01', 10, 0, 'pass',"
            " '2020-01-01', 0, now(), 'old', md5('x'))"
        )
    result = load_sql(CORE.entity("loan_status"), source_url, url, *business_day(DAYS[-1]))
    with connect(url) as conn:
        types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'raw' and table_name = 'core_banking__loan_status'"
            ).fetchall()
        )
        old = conn.execute(
            "select count(*) from raw.core_banking__loan_status where _source = 'old'"
        ).fetchone()[0]
    assert result.rows_loaded > 0
    assert (types["account_id"], types["_row_hash"], types["outstanding"]) == (
        "bigint",
        "bigint",
        "numeric",
    )
    assert old == 1, "rows already landed are kept, converted"


def _hashes(url: str) -> dict[int, int]:
    with connect(url) as conn:
        return dict(
            conn.execute("select txn_id, _row_hash from raw.core_banking__transactions").fetchall()
        )


def test_rows_carry_their_batch_lineage_and_a_hash_of_every_column(
    settings: Settings, bank: Layout, source_url: str
) -> None:
    """Lineage comes with the stream; changing any one value of a row changes its hash."""
    url = fresh_database(settings, "scratch_ingest_sql_hash")
    migrate(url)
    transactions = CORE.entity("transactions")
    day = business_day(FIRST_DAY)
    first = load_sql(transactions, source_url, url, *day)
    with connect(url) as conn:
        lineage = conn.execute(
            "select count(distinct _batch_id), min(_batch_id), count(distinct _loaded_at),"
            " min(_loaded_at) > now() - interval '1 hour', count(_source),"
            " (select source_object from ops.load_batches where batch_id = min(r._batch_id))"
            " from raw.core_banking__transactions r"
        ).fetchone()
    # A table's rows leave _source empty: the batch names the one source table.
    assert lineage == (1, first.batch_id, 1, True, 0, "core.transactions")
    before = _hashes(url)
    assert len(set(before.values())) == len(before), "no two rows share a hash"

    with connect(source_url) as conn:
        txn_id, original = conn.execute(
            "select txn_id, to_jsonb(t) from core.transactions t"
            " where txn_ts < %s order by txn_id limit 1",
            (day[1],),
        ).fetchone()
    # One change at a time, each to a different type; reverting restores the hash.
    changes = [
        ("amount", "amount + 0.01"),
        ("channel", "channel || 'x'"),
        ("counterparty_bank", "case when counterparty_bank is null then 'X' end"),
        ("cross_border", "not coalesce(cross_border, false)"),
        ("txn_ts", "txn_ts - interval '1 second'"),
    ]
    try:
        for column, expression in changes:
            with connect(source_url) as conn:
                conn.execute(
                    f"update core.transactions set {column} = {expression} where txn_id = %s",
                    (txn_id,),
                )
            load_sql(transactions, source_url, url, *day)
            after = _hashes(url)
            assert after[txn_id] != before[txn_id], f"a change of {column} changes the hash"
            assert {k: v for k, v in after.items() if k != txn_id} == {
                k: v for k, v in before.items() if k != txn_id
            }
            with connect(source_url) as conn:
                conn.execute(
                    f"update core.transactions set {column} = (jsonb_populate_record("
                    f" null::core.transactions, %s)).{column} where txn_id = %s",
                    (Jsonb(original), txn_id),
                )
        load_sql(transactions, source_url, url, *day)
        assert _hashes(url) == before, "the same values hash the same, run after run"
    finally:
        with connect(source_url) as conn:
            conn.execute(
                "update core.transactions t set (amount, channel, counterparty_bank, cross_border,"
                " txn_ts) = (select r.amount, r.channel, r.counterparty_bank, r.cross_border,"
                " r.txn_ts from jsonb_populate_record(null::core.transactions, %s) r)"
                " where t.txn_id = %s",
                (Jsonb(original), txn_id),
            )
