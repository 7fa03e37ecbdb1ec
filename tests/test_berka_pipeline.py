"""The whole pipeline on a real bank's extract (the PKDD'99 "Berka" sample): it loads,
`dbt build` passes (every model, data test and unit test), the contribution roll-ups
reconcile and the customers are labelled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import free_port, run_crm

from warehouse.db import connect
from warehouse.dbt import dbt_target_path
from warehouse.embedded import server_for
from warehouse.settings import Settings

pytestmark = pytest.mark.slow

# The sample's transactions end on this day (see ../shared/data/berka/README.md).
BERKA_DATE = "1994-03-31"


@pytest.fixture(scope="module")
def berka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Settings]]:
    """`crm run` with CRM_SOURCE=berka in a project state of its own (own embedded server)."""
    env = {
        "CRM_STATE_DIR": str(tmp_path_factory.mktemp("crm-berka")),
        "CRM_PG_PORT": str(free_port()),
        "CRM_API_PORT": str(free_port()),
        "CRM_LOG_LEVEL": "INFO",
        "CRM_SOURCE": "berka",
    }
    settings = Settings.from_env(env)
    try:
        yield run_crm(["run", "--date", BERKA_DATE], env, timeout=1500), settings
    finally:
        server_for(settings).stop()


def test_the_pipeline_runs_on_the_berka_sample(berka) -> None:
    done, settings = berka
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "succeeded" in done.stdout
    results = json.loads((dbt_target_path(settings) / "run_results.json").read_text())
    statuses = {r["status"] for r in results["results"]}
    assert statuses <= {"success", "pass"}, statuses
    manifest = json.loads((dbt_target_path(settings) / "manifest.json").read_text())
    marts = {
        n["alias"] or n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    }
    with connect(settings.warehouse_url) as wh:
        built = {
            name
            for (name,) in wh.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            )
        }
    assert marts <= built, f"marts not built on Berka: {sorted(marts - built)}"


def test_every_berka_transaction_reaches_the_fact(berka) -> None:
    _, settings = berka
    with connect(settings.warehouse_url) as wh:
        raw, fact, quarantined = wh.execute(
            "select (select count(distinct txn_id) from raw.core_banking__transactions),"
            " (select count(*) from marts.fct_transactions),"
            " (select coalesce(sum(rows_quarantined), 0) from ops.load_batches"
            "  where target_table = 'raw.core_banking__transactions' and status = 'committed')"
        ).fetchone()
    assert raw + quarantined == 49_102, "every line of trans.asc landed or was quarantined"
    assert fact == raw


def test_berka_contribution_rollups_reconcile(berka) -> None:
    _, settings = berka
    with connect(settings.warehouse_url) as wh:
        rows = wh.execute(
            """
            with customers as (
                select month_start, sum(contribution) as total
                from marts.fct_customer_contribution_monthly group by month_start
            ),
            rollups as (
                select 'product' as dimension, month_start, sum(contribution) as total
                from marts.fct_contribution_by_product_monthly group by month_start
                union all
                select 'branch', month_start, sum(contribution)
                from marts.fct_contribution_by_branch_monthly group by month_start
                union all
                select 'rm', month_start, sum(contribution)
                from marts.fct_contribution_by_rm_monthly group by month_start
                union all
                select 'segment', month_start, sum(contribution)
                from marts.fct_contribution_by_segment_monthly group by month_start
            )
            select rollups.dimension, customers.month_start, customers.total, rollups.total
            from customers
            join rollups on rollups.month_start = customers.month_start
            """
        ).fetchall()
        months = wh.execute(
            "select count(distinct month_start), count(*)"
            " from marts.fct_customer_contribution_monthly"
        ).fetchone()
    assert months[0] >= 12 and months[1] > 1000, months
    assert len(rows) == 4 * months[0]
    off = [r for r in rows if r[2] != r[3]]
    assert not off, off[:5]


def test_berka_customers_are_labelled(berka) -> None:
    _, settings = berka
    with connect(settings.warehouse_url) as wh:
        labelled, month_customers, segments = wh.execute(
            "with month as (select max(as_of_month) as m from ml.customer_segments)"
            " select (select count(distinct customer_id) from ml.customer_segments, month"
            "   where as_of_month = month.m),"
            " (select count(*) from marts.mart_customer_lifecycle_monthly, month"
            "   where month_start = month.m),"
            " (select count(distinct segment_name) from ml.current_customer_segments)"
        ).fetchone()
        customers_360 = wh.execute("select count(*) from marts.mart_customer_360").fetchone()[0]
        current = wh.execute("select count(*) from marts.dim_customer_current").fetchone()[0]
    assert labelled == month_customers > 500
    assert segments >= 3
    assert customers_360 == current
