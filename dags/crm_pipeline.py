"""The end-to-end pipeline: every stage once, in order, on the demo bank.

Thin by design: each task calls one function of a stage package; imports happen inside
tasks so parsing this file stays cheap.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, TaskGroup, dag, task

from ingest.airflow_tasks import system_loads
from ingest.config import SYSTEMS, load_system
from warehouse import assets
from warehouse.dbt_airflow import dbt_build_group

WAREHOUSE = "warehouse"
CORE_BANKING = "core_banking"


@dag(
    dag_id="crm_pipeline",
    description="Bank -> all source systems -> raw -> dbt (a task per model) -> GX gate -> summary",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),  # any business day can be run
    catchup=False,
    max_active_runs=1,
    tags=["pipeline"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def crm_pipeline():
    @task
    def prepare_source(logical_date=None) -> dict[str, int]:
        """The bank's systems stand at the run's business day (CRM_SOURCE picks the bank)."""
        from sources.prepare import prepare_source
        from warehouse.db import airflow_connection_url
        from warehouse.settings import get_settings

        return prepare_source(
            get_settings(), airflow_connection_url(CORE_BANKING), logical_date.date()
        )

    # Judged on what the bank delivers (banks.yml); past `error_after` the build does not run.
    @task(trigger_rule="none_failed")
    def source_freshness() -> dict[str, str]:
        from warehouse.db import airflow_connection_url
        from warehouse.dbt import check_source_freshness
        from warehouse.settings import get_settings

        results = check_source_freshness(airflow_connection_url(WAREHOUSE), get_settings())
        return {r.source: r.status for r in results}

    # The whole dbt project, a task per model and per model's tests (astronomer-cosmos in
    # watcher mode: one `dbt build`, each model's task shows that model's result and log).
    build = dbt_build_group(group_id="dbt_build", producer_trigger_rule="none_failed")

    # The marts are published (their Asset updated) only when the gate passes; the ML DAG
    # (ml_labels) is scheduled on that Asset.
    @task(outlets=[Asset(assets.MARTS)])
    def quality_gate(run_id=None) -> dict[str, object]:
        from expectations.runner import run_gate
        from warehouse.db import airflow_connection_url

        result = run_gate("mart_customer_balances", airflow_connection_url(WAREHOUSE), run_id)
        return {"success": result.success, "evaluated": result.evaluated}

    @task
    def summary(run_id=None) -> None:
        from reports.summary import collect, record, render
        from warehouse.db import airflow_connection_url

        url = airflow_connection_url(WAREHOUSE)
        built = collect(url)
        record(url, run_id, "crm_pipeline", built)
        print(render(built))  # noqa: T201 - the task log is where engineers read it

    prepared = prepare_source()
    fresh = source_freshness()
    fresh >> build
    groups = {}
    for system in SYSTEMS:
        with TaskGroup(group_id=f"ingest_{system}") as group:
            first, _ = system_loads(system, wait_for_upstream=False)
        prepared >> first
        group >> fresh
        groups[system] = group
    for system in SYSTEMS:
        for upstream in load_system(system).upstream_systems:
            groups[upstream] >> groups[system]
    gate = quality_gate()
    build >> gate
    gate >> summary()


crm_pipeline()
