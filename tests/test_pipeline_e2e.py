"""The skeleton DAG through Airflow (`crm run` = `airflow dags test`) on a real Postgres."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import run_crm
from contribution_check import frame, recompute
from demo_truth_lifecycle import assert_lifecycle_found, measure_lifecycle
from demo_truth_risk import assert_risk_found, measure_risk
from demo_truth_value import assert_value_found, measure_value

from ingest.config import SYSTEMS, load_system
from warehouse.db import connect
from warehouse.dbt import (
    DbtError,
    check_source_freshness,
    dbt_target_path,
    freshness_selection,
    run_dbt,
)
from warehouse.settings import Settings

pytestmark = pytest.mark.slow

RUN_DATE = "2026-01-30"
NEXT_DATE = "2026-01-31"


def _state(settings: Settings) -> dict[str, object]:
    with connect(settings.warehouse_url) as wh, connect(settings.core_banking_url) as src:
        source = src.execute(
            "select (select count(*) from core.customers), (select count(*) from core.accounts),"
            " (select count(*) from core.balances),"
            " (select sum(b.end_balance) from core.balances as b join core.accounts as a"
            "  using (account_id) where a.status = 'open' and a.account_type <> 'loan'"
            "  and b.balance_month = (select max(balance_month) from core.balances))"
        ).fetchone()
        raw = wh.execute(
            "select (select count(*) from raw.core_banking__customers where _batch_id = any(b)),"
            " (select count(*) from raw.core_banking__accounts where _batch_id = any(b)),"
            " (select count(*) from raw.core_banking__balances where _batch_id = any(b))"
            " from (select array_agg(batch_id) as b from ops.load_batches"
            "  where status = 'committed' and interval_start = %s) as batches",
            (f"{RUN_DATE}T00:00:00+00:00",),
        ).fetchone()
        raw_total = wh.execute(
            "select (select count(*) from raw.core_banking__customers),"
            " (select count(*) from raw.core_banking__accounts),"
            " (select count(*) from raw.core_banking__balances)"
        ).fetchone()
        mart = wh.execute(
            "select count(*), sum(deposit_balance), md5(string_agg(m::text, '|'"
            " order by customer_id)) from marts.mart_customer_balances as m"
        ).fetchone()
        gate = wh.execute(
            "select success, evaluated_expectations from ops.dq_results"
            " order by checked_at desc limit 1"
        ).fetchone()
        # Labels describe the last closed month the marts hold on the run's day.
        labels = wh.execute(
            "with month as (select max(month_start) as m"
            "  from marts.mart_customer_lifecycle_monthly where month_start <= %s)"
            " select count(*), count(distinct customer_id), count(distinct segment_name),"
            " (select count(*) from marts.mart_customer_lifecycle_monthly, month"
            "  where month_start = month.m)"
            " from ml.customer_segments, month where as_of_month = month.m",
            (RUN_DATE,),
        ).fetchone()
        current = wh.execute("select count(*) from ml.current_customer_segments").fetchone()[0]
        summary = wh.execute("select count(*) from ops.run_log where step = 'summary'").fetchone()[
            0
        ]
        unbalanced = wh.execute(
            "select count(*) from ops.load_batches where status = 'committed'"
            " and rows_received <> rows_loaded + rows_quarantined"
        ).fetchone()[0]
    return {
        "source": source,
        "raw": raw,
        "raw_total": raw_total,
        "mart": mart,
        "gate": gate,
        "labels": labels,
        "current": current,
        "summary": summary,
        "unbalanced": unbalanced,
    }


@pytest.fixture(scope="module")
def first_run(settings: Settings, test_env: dict[str, str]):
    done = run_crm(["run", "--date", RUN_DATE], test_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, _state(settings)


def test_pipeline_builds_every_stage(first_run) -> None:
    done, state = first_run
    customers, accounts, balances, deposits = state["source"]
    assert customers > 100
    assert state["raw"] == (customers, accounts, balances)
    mart_rows, mart_deposits, _ = state["mart"]
    assert mart_rows == customers
    assert mart_deposits == deposits, "mart deposits must reconcile to the source"
    assert state["gate"] == (True, 8)
    label_rows, labelled_customers, segments, month_customers = state["labels"]
    assert label_rows == labelled_customers == month_customers > 0.8 * customers
    assert segments >= 3
    assert state["current"] == labelled_customers
    assert state["unbalanced"] == 0
    assert "succeeded" in done.stdout and "Where to look next" in done.stdout
    assert "mart_customer_balances" in done.stdout
    # The wealth-management rules are shown to the reader, not only stored.
    assert "Who buys wealth management" in done.stdout
    assert "THEN wealth customer (support" in done.stdout


def test_contribution_components_match_an_independent_computation(first_run, settings) -> None:
    """NII, fees, operating cost and credit loss per customer and month, as the marts hold
    them, against the same rules recomputed in pandas from the raw tables."""
    with connect(settings.warehouse_url) as wh:
        expected = recompute(wh)
        marts = frame(
            wh,
            "select customer_id, month_start, net_interest_income, fee_income, operating_cost,"
            " expected_credit_loss from marts.fct_customer_contribution_monthly",
        )
    parts = ["net_interest_income", "fee_income", "operating_cost", "expected_credit_loss"]
    merged = marts.merge(
        expected, on=["customer_id", "month_start"], how="outer", suffixes=("", "_expected")
    )
    assert len(expected) > 100 and merged["month_start"].nunique() >= 2
    for part in parts:
        got = merged[part].fillna(Decimal(0))
        want = merged[f"{part}_expected"].fillna(Decimal(0))
        off = merged[(got - want).abs() > Decimal("0.02")]
        assert off.empty, f"{part}: {len(off)} customer-months differ, e.g.\n{off.head()}"
        assert sum(want) != 0, f"{part} is never exercised by the demo bank"


def test_the_marts_find_what_the_demo_bank_hid(first_run, settings) -> None:
    """Key accounts, warning tiers, anomalies, lifecycle stages and churn against the
    generator's hidden truth (figures printed for the record)."""
    truth = settings.data_dir / "demo_bank" / "truth"
    checks = [
        (measure_value, assert_value_found),
        (measure_risk, assert_risk_found),
        (measure_lifecycle, assert_lifecycle_found),
    ]
    for measure, check in checks:
        figures = measure(settings.warehouse_url, truth)
        print(measure.__name__, {k: round(v, 3) for k, v in figures.items()})
        check(figures)


def test_dbt_docs_generate_catalogues_every_mart_column(first_run, settings) -> None:
    run_dbt(["docs", "generate"], settings.warehouse_url, settings)
    target = dbt_target_path(settings)
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    assert (target / "index.html").exists()
    marts = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    assert len(marts) >= 30
    for uid, node in marts.items():
        built = {c.lower() for c in catalog["nodes"][uid]["columns"]}
        documented = {c for c, col in node["columns"].items() if col["description"].strip()}
        assert node["description"].strip(), f"{node['name']} has no description"
        assert built == documented, f"{node['name']}: undocumented {built - documented}"
        assert node["config"]["contract"]["enforced"], f"{node['name']}: contract"


def test_source_freshness_judges_what_the_bank_delivers(first_run, settings) -> None:
    results = check_source_freshness(settings.warehouse_url, settings)
    assert len(results) == len(freshness_selection("demo")) == 23
    assert {r.status for r in results} == {"pass"}
    with connect(settings.warehouse_url) as wh:
        wh.execute("update raw.service__surveys set _loaded_at = _loaded_at - interval '8 days'")
        wh.commit()
    try:
        with pytest.raises(DbtError, match=r"service\.surveys \(loaded 19\d\.\d h ago\)"):
            check_source_freshness(settings.warehouse_url, settings)
    finally:
        with connect(settings.warehouse_url) as wh:
            wh.execute(
                "update raw.service__surveys set _loaded_at = _loaded_at + interval '8 days'"
            )
            wh.commit()
    berka = freshness_selection("berka")
    assert "source:core_banking.transactions" in berka
    assert not any(s.startswith("source:crm.") for s in berka), "Berka delivers no CRM"


def test_rerunning_the_same_day_leaves_the_same_state(first_run, settings, test_env) -> None:
    _, before = first_run
    again = run_crm(["run", "--date", RUN_DATE], test_env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    after = _state(settings)
    for key in ("source", "raw", "raw_total", "mart", "labels", "current", "unbalanced"):
        assert after[key] == before[key], key
    # The run log is history: one summary per DAG run, and each run has its own id.
    assert after["summary"] == before["summary"] + 1


def test_every_source_system_lands_through_the_pipeline(first_run, settings) -> None:
    with connect(settings.warehouse_url) as wh:
        landed = dict(
            wh.execute(
                "select target_table, sum(rows_loaded) from ops.load_batches"
                " where status = 'committed' group by 1"
            ).fetchall()
        )
    for system in SYSTEMS:
        for entity in load_system(system).entities:
            assert f"raw.{system}__{entity}" in landed, (system, entity)
    # The CRM came over HTTP from the demo API that `crm run` served for the run.
    assert landed["raw.crm__interactions"] > 0 and landed["raw.cards__card_transactions"] > 0


def test_a_per_system_dag_reloads_its_day_through_airflow(first_run, settings, test_env) -> None:
    with connect(settings.warehouse_url) as wh:
        cards_before = wh.execute(
            "select count(*), sum(amount) from raw.cards__card_transactions"
        ).fetchone()
    done = run_crm(["run", "--dag-id", "ingest_cards", "--date", RUN_DATE], test_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for task in ("wait_for_delivery", "wait_for_upstream", "load_cards", "load_card_transactions"):
        assert task in done.stdout, task
    with connect(settings.warehouse_url) as wh:
        cards_after = wh.execute(
            "select count(*), sum(amount) from raw.cards__card_transactions"
        ).fetchone()
        replaced = wh.execute(
            "select count(*) from ops.load_batches where target_table = 'raw.cards__cards'"
            " and status = 'replaced'"
        ).fetchone()[0]
    assert cards_after == cards_before, "re-running a day through its DAG replaces it exactly"
    assert replaced >= 1


def _mart_signatures(settings: Settings) -> dict[str, tuple]:
    """Row count and checksum of every table in `marts`, rows in a fixed order."""
    with connect(settings.warehouse_url) as wh:
        tables = [
            name
            for (name,) in wh.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            table: wh.execute(
                f"select count(*), md5(string_agg(t::text, '|' order by t::text))"
                f" from marts.{table} as t"
            ).fetchone()
            for table in tables
        }


def test_a_daily_incremental_build_equals_a_full_refresh(first_run, settings, test_env) -> None:
    """The next day's run builds the incremental facts from the new batches only; a full
    refresh of the same data gives the same marts, row for row."""
    with connect(settings.warehouse_url) as wh:
        before = wh.execute("select count(*) from marts.fct_transactions").fetchone()[0]
    next_day = run_crm(["run", "--date", NEXT_DATE], test_env)
    assert next_day.returncode == 0, next_day.stdout[-3000:] + next_day.stderr[-3000:]
    incremental = _mart_signatures(settings)
    assert incremental["fct_transactions"][0] > before, "the new day's transactions arrive"
    assert len(incremental) >= 30, sorted(incremental)
    run_dbt(["build", "--full-refresh"], settings.warehouse_url, settings)
    assert _mart_signatures(settings) == incremental
