"""Rebuild the dbt warehouse from what `raw` holds, without loading: one task per model.

For data engineers after a change to the dbt project or the reference seeds, and for the
benchmark of orchestrated against plain `dbt build` (bench/bench_dbt.py).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from warehouse.dbt_airflow import dbt_build_group


@dag(
    dag_id="warehouse_build",
    description="dbt build of the whole warehouse (staging, intermediate, marts) through Cosmos",
    schedule=None,
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["warehouse", "dbt"],
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=1)},
)
def warehouse_build():
    dbt_build_group(group_id="dbt")


warehouse_build()
