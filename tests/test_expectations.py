"""GX gates on a real Postgres table: a clean table passes, a bad one fails and is recorded."""

from __future__ import annotations

import pytest

from expectations.runner import GateFailed, run_gate
from expectations.suites import SUITES, Suite, get_suite
from warehouse.db import connect


@pytest.fixture(scope="module")
def scratch_tables(scratch_warehouse: str) -> str:
    with connect(scratch_warehouse) as conn:
        conn.execute("create schema if not exists gx_test")
        for name in ("good", "bad"):
            conn.execute(f"drop table if exists gx_test.{name}")
            conn.execute(
                f"create table gx_test.{name} (customer_id bigint, gender text,"
                " branch_code text, n_accounts int, deposit_balance numeric,"
                " loan_balance numeric)"
            )
        conn.execute(
            "insert into gx_test.good select g, case when g % 2 = 0 then 'F' else 'M'"
            " end, 'BJ001', 1, g * 10, 0 from generate_series(1, 500) g"
        )
        conn.execute("insert into gx_test.bad select * from gx_test.good")
        conn.execute("insert into gx_test.bad values (7, 'X', 'BJ001', 1, -5, 0)")
        # More overdrawn customers than the suite tolerates (10%).
        conn.execute(
            "insert into gx_test.bad select g, 'F', 'BJ001', 1, -5, 0"
            " from generate_series(1001, 1060) g"
        )
    return "gx_test"


def _suite_on(table: str) -> Suite:
    template = get_suite("mart_customer_balances")
    return Suite(f"test_{table}", "gx_test", table, template.expectations)


def test_clean_table_passes_and_is_recorded(scratch_warehouse: str, scratch_tables) -> None:
    result = run_gate(_suite_on("good"), scratch_warehouse, "test-run-good")
    assert result.success and result.evaluated == result.successful == 8
    with connect(scratch_warehouse) as conn:
        row = conn.execute(
            "select success, target_table from ops.dq_results where run_id = 'test-run-good'"
        ).fetchone()
    assert row == (True, "gx_test.good")


def test_bad_table_fails_the_gate_naming_the_broken_rules(
    scratch_warehouse, scratch_tables
) -> None:
    with pytest.raises(GateFailed) as info:
        run_gate(_suite_on("bad"), scratch_warehouse, "test-run-bad")
    message = str(info.value)
    assert "ExpectColumnValuesToBeUnique".lower() not in message  # uses GX type names
    for rule in (
        "expect_column_values_to_be_unique(column=customer_id)",
        "expect_column_values_to_be_between(column=deposit_balance",
        "expect_column_values_to_be_in_set(column=gender",
    ):
        assert rule in message
    with connect(scratch_warehouse) as conn:
        success, failed = conn.execute(
            "select success, failed_expectations from ops.dq_results where run_id = 'test-run-bad'"
        ).fetchone()
    assert success is False and len(failed) == 3


def test_unknown_suite_is_named() -> None:
    with pytest.raises(KeyError, match="no expectation suite 'nope'"):
        get_suite("nope")
    assert all(get_suite(name).expectations for name in SUITES)
