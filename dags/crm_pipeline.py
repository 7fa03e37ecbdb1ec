"""The walking-skeleton pipeline: every stage once, in order, on the tiny demo bank.

Thin by design: each task calls one function of a stage package; imports happen inside
tasks so parsing this file stays cheap.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

WAREHOUSE = "warehouse"
CORE_BANKING = "core_banking"
ENTITIES = ("customers", "accounts", "balances", "loan_status")

RAW_ASSETS = {e: Asset(f"postgres://warehouse/raw/core_banking__{e}") for e in ENTITIES}
MART_ASSET = Asset("postgres://warehouse/marts/mart_customer_balances")
SEGMENTS_ASSET = Asset("postgres://warehouse/ml/customer_segments")


@dag(
    dag_id="crm_pipeline",
    description="Skeleton: demo bank -> raw (COPY) -> dbt -> GX gate -> ML labels -> summary",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["pipeline", "skeleton"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def crm_pipeline():
    @task
    def prepare_demo_source(logical_date=None) -> dict[str, int]:
        """The demo bank stands at the run's business day (generated or advanced)."""
        from sources.demo_bank.bank import ensure_published
        from sources.demo_bank.config import Layout
        from warehouse.db import airflow_connection_url
        from warehouse.settings import get_settings

        layout = Layout(get_settings().data_dir)
        return ensure_published(layout, airflow_connection_url(CORE_BANKING), logical_date.date())

    def load_task(entity_name: str):
        @task(task_id=f"load_core_banking__{entity_name}", outlets=[RAW_ASSETS[entity_name]])
        def load(logical_date=None) -> dict[str, int]:
            from ingest.config import load_source
            from ingest.intervals import business_day
            from ingest.loader import load_full
            from warehouse.db import airflow_connection_url

            entity = load_source(CORE_BANKING).entity(entity_name)
            result = load_full(
                entity,
                airflow_connection_url(CORE_BANKING),
                airflow_connection_url(WAREHOUSE),
                *business_day(logical_date),
            )
            return {
                "batch_id": result.batch_id,
                "rows_loaded": result.rows_loaded,
                "rows_received": result.rows_received,
            }

        return load()

    @task(outlets=[MART_ASSET])
    def dbt_build() -> None:
        from warehouse.db import airflow_connection_url
        from warehouse.dbt import run_dbt
        from warehouse.settings import get_settings

        run_dbt(["build"], airflow_connection_url(WAREHOUSE), get_settings())

    @task
    def quality_gate(run_id=None) -> dict[str, object]:
        from expectations.runner import run_gate
        from warehouse.db import airflow_connection_url

        result = run_gate("mart_customer_balances", airflow_connection_url(WAREHOUSE), run_id)
        return {"success": result.success, "evaluated": result.evaluated}

    @task(outlets=[SEGMENTS_ASSET])
    def label_segments(logical_date=None) -> dict[str, object]:
        from ingest.intervals import month_start
        from ml.segments import label_customers
        from warehouse.db import airflow_connection_url

        month = month_start(logical_date)
        run = label_customers(airflow_connection_url(WAREHOUSE), month)
        return {"model_run_id": run.model_run_id, "segments": run.sizes}

    @task
    def summary(run_id=None) -> None:
        from reports.summary import collect, record, render
        from warehouse.db import airflow_connection_url

        url = airflow_connection_url(WAREHOUSE)
        built = collect(url)
        record(url, run_id, "crm_pipeline", built)
        print(render(built))  # noqa: T201 - the task log is where engineers read it

    loads = [load_task(e) for e in ENTITIES]
    prepare_demo_source() >> loads
    gate = quality_gate()
    loads >> dbt_build() >> gate
    gate >> label_segments() >> summary()


crm_pipeline()
