"""COPY loads from the tiny core-banking source into raw: exact, recorded, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import fresh_database

from ingest.config import load_source
from ingest.loader import Column, ConfigError, SqlEntity, load_full
from sources.demo_bank.bank import generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.people import gb11643_check_digit
from warehouse.db import connect
from warehouse.settings import Settings

DAY1 = (datetime(2026, 1, 30, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC))
DAY2 = (datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def source_url(settings: Settings) -> str:
    return fresh_database(settings, "scratch_loader_source")


@pytest.fixture(scope="module")
def source(source_url: str, tmp_path_factory) -> dict[str, int]:
    cfg = DemoBankConfig(customers=150, months=2, seed=11)
    return generate(cfg, Layout(tmp_path_factory.mktemp("demo-bank")), source_url)


def _source_totals(url: str) -> tuple[int, str]:
    with connect(url) as conn:
        return conn.execute("select count(*), sum(end_balance)::text from core.balances").fetchone()


def _raw_totals(url: str, batch_id: int | None = None) -> tuple[int, str]:
    where = "" if batch_id is None else f" where _batch_id = {int(batch_id)}"
    with connect(url) as conn:
        return conn.execute(
            "select count(*), sum(end_balance)::text from raw.core_banking__balances" + where
        ).fetchone()


def test_national_ids_carry_valid_check_digits(source_url, scratch_warehouse, source) -> None:
    with connect(source_url) as conn:
        ids = [r[0] for r in conn.execute("select national_id from core.customers")]
    assert len(ids) == source["customers"]
    ids = [i for i in ids if len(i) == 18 and i[:2] != "91"]  # corporates carry credit codes
    assert all(gb11643_check_digit(i[:17]) == i[17] for i in ids)
    # The published example number 11010519491231002X has check digit X.
    assert gb11643_check_digit("11010519491231002") == "X"


def test_full_load_matches_source_and_reruns_replace(source_url, scratch_warehouse, source) -> None:
    system = load_source("core_banking")
    balances = system.entity("balances")
    url = scratch_warehouse
    with connect(url) as conn:
        conn.execute("drop table if exists raw.core_banking__balances")

    first = load_full(balances, source_url, url, *DAY1)
    expected = _source_totals(source_url)
    assert first.rows_received == first.rows_loaded == expected[0] == source["balances"]
    assert _raw_totals(url) == expected

    again = load_full(balances, source_url, url, *DAY1)
    assert again.replaced_batches == 1
    assert again.checksum == first.checksum
    assert _raw_totals(url) == expected, "re-running an interval must not duplicate rows"

    next_day = load_full(balances, source_url, url, *DAY2)
    assert next_day.replaced_batches == 0
    assert _raw_totals(url, next_day.batch_id) == expected
    assert _raw_totals(url)[0] == 2 * expected[0], "a new interval is appended"

    with connect(url) as conn:
        batches = conn.execute(
            "select batch_id, status, rows_received, rows_loaded, rows_quarantined"
            " from ops.load_batches where target_table = 'raw.core_banking__balances'"
            " and batch_id >= %s order by batch_id",
            (first.batch_id,),
        ).fetchall()
        tags = conn.execute(
            "select distinct _source, _batch_id from raw.core_banking__balances order by _batch_id"
        ).fetchall()
        hashes_unique = conn.execute(
            "select count(distinct _row_hash) = count(*) from raw.core_banking__balances"
            " where _batch_id = %s",
            (next_day.batch_id,),
        ).fetchone()[0]
    assert [b[1] for b in batches] == ["replaced", "committed", "committed"]
    assert all(b[2] == b[3] + b[4] for b in batches)
    assert tags == [
        ("core_banking:core.balances", again.batch_id),
        ("core_banking:core.balances", next_day.batch_id),
    ]
    assert hashes_unique


def test_failed_load_is_recorded_and_leaves_raw_untouched(
    source_url, scratch_warehouse, source
) -> None:
    url = scratch_warehouse
    load_full(load_source("core_banking").entity("customers"), source_url, url, *DAY1)
    before = _count(url, "raw.core_banking__customers")
    broken = SqlEntity(
        "core_banking",
        "core",
        "customers",
        (Column("customer_id", "bigint"), Column("no_such_column", "text")),
        ("customer_id",),
    )
    with pytest.raises(Exception, match="no_such_column"):
        load_full(broken, source_url, url, *DAY1)
    with connect(url) as conn:
        status, message = conn.execute(
            "select status, message from ops.load_batches order by batch_id desc limit 1"
        ).fetchone()
    assert status == "failed" and "no_such_column" in message
    assert _count(url, "raw.core_banking__customers") == before


def _count(url: str, table: str) -> int:
    with connect(url) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "customers; drop table x"}, "not a plain lower-case SQL identifier"),
        ({"schema": "Core"}, "not a plain lower-case SQL identifier"),
        ({"primary_key": ("id",)}, "primary key columns"),
    ],
)
def test_identifiers_from_config_are_validated(kwargs, message) -> None:
    args = {
        "source_system": "core_banking",
        "schema": "core",
        "table": "customers",
        "columns": (Column("customer_id", "bigint"),),
        "primary_key": ("customer_id",),
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        SqlEntity(**args)


def test_column_types_are_validated() -> None:
    with pytest.raises(ConfigError, match="not a plain SQL type"):
        Column("amount", "numeric(18,2); drop table raw.x")
