"""One ingestion DAG per source system, generated from ingest/config/*.yml.

Daily, data-interval aware (the logical date is the business day loaded), one task per
entity producing the raw table's Asset. Backfill over months with
``airflow backfill create --dag-id ingest_<system> --from-date ... --to-date ...``;
runs go one at a time in date order, as watermark windows expect.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from ingest.airflow_tasks import system_loads
from ingest.config import SYSTEMS, load_system


def ingest_dag(system: str):
    definition = load_system(system)

    @dag(
        dag_id=f"ingest_{system}",
        description=f"Pull {system} ({definition.kind}) into raw, one task per entity",
        schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
        start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),  # backfills reach any day
        catchup=False,
        max_active_runs=1,
        tags=["ingest", system, definition.kind],
        default_args={
            "owner": "data-engineering",
            "retries": 3,
            "retry_delay": timedelta(minutes=5),
            "retry_exponential_backoff": True,
        },
    )
    def build() -> None:
        system_loads(system, wait_for_upstream=True)

    return build()


for _system in SYSTEMS:
    ingest_dag(_system)
