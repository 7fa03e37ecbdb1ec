"""Airflow tasks for ingestion, generated from the source configuration.

Used by the per-system DAGs and by the end-to-end pipeline: one task per entity, ordered
by references within the system, each producing the Asset of its raw table; file systems
first wait for the day's done markers, and a system that references another one waits for
that system's loads of the same day. Only ``airflow.sdk`` and the YAML config are imported
here; the work happens in ``ingest.tasks`` imported inside the tasks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, PokeReturnValue, task

from ingest.config import load_system

SENSOR_POKE = timedelta(minutes=5)
SENSOR_TIMEOUT = timedelta(hours=12)


def raw_asset(system: str, entity: str) -> Asset:
    table = f"{system}__{entity}"
    return Asset(name=f"raw.{table}", uri=f"postgres://warehouse/raw/{table}", group="raw")


def _sources() -> Any:
    from ingest.tasks import sources_from
    from warehouse.db import airflow_connection_url
    from warehouse.settings import get_settings

    return sources_from(airflow_connection_url, get_settings())


def _load_task(system: str, entity: str) -> Any:
    @task(task_id=f"load_{entity}", outlets=[raw_asset(system, entity)])
    def load(logical_date=None) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowSkipException

        from ingest.tasks import NotDelivered
        from ingest.tasks import load as load_entity

        try:
            return load_entity(system, entity, logical_date, _sources())
        except NotDelivered as exc:
            raise AirflowSkipException(str(exc)) from None

    return load()


def _sensor(system: str, task_id: str, check: str) -> Any:
    """A sensor that pokes ``ingest.tasks.<check>(system, logical_date, sources)``."""

    @task.sensor(
        task_id=task_id,
        poke_interval=SENSOR_POKE.total_seconds(),
        timeout=SENSOR_TIMEOUT.total_seconds(),
        mode="reschedule",
    )
    def wait(logical_date=None) -> PokeReturnValue:
        import ingest.tasks

        ready, detail = getattr(ingest.tasks, check)(system, logical_date, _sources())
        print(detail)  # noqa: T201 - shown in the task log
        return PokeReturnValue(is_done=ready, xcom_value=detail)

    return wait()


def system_loads(system: str, *, wait_for_upstream: bool) -> tuple[list[Any], list[Any]]:
    """Create one system's tasks in the current DAG or task group: (first, last) tasks."""
    definition = load_system(system)
    loads = {name: _load_task(system, name) for name in definition.entities}
    for name, entity in definition.entities.items():
        for ref in entity.references:
            if ref.system == system and ref.entity != name:
                loads[ref.entity] >> loads[name]
    roots = [
        loads[name]
        for name, entity in definition.entities.items()
        if not any(r.system == system and r.entity != name for r in entity.references)
    ]
    gates = []
    if definition.kind == "files" and definition.options.get("done_marker"):
        gates.append(_sensor(system, "wait_for_delivery", "delivery_ready"))
    if wait_for_upstream and definition.upstream_systems:
        gates.append(_sensor(system, "wait_for_upstream", "upstream_loaded"))
    for gate in gates:
        gate >> roots
    return (gates or roots), list(loads.values())
