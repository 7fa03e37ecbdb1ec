"""What the ingestion tasks do, as plain functions (Airflow only wires them up).

The logical date decides the business day loaded (``ingest.intervals.business_day``);
connections come from Airflow connections inside tasks and from settings outside.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, datetime

from ingest.config import SYSTEMS, delivered, load_system
from ingest.extract_files import deliveries
from ingest.intervals import business_day
from ingest.landing import NotReady
from ingest.load import Sources, load_entity
from warehouse.db import connect
from warehouse.log import get_logger
from warehouse.settings import CORE_BANKING_CONN_ID, CRM_API_CONN_ID, WAREHOUSE_CONN_ID, Settings

log = get_logger("ingest.tasks")

CONNECTION_IDS = (WAREHOUSE_CONN_ID, CORE_BANKING_CONN_ID, CRM_API_CONN_ID)


def sources_from(lookup: Callable[[str], str], settings: Settings) -> Sources:
    """Sources whose connection URIs come from ``lookup`` (an Airflow hook, or settings)."""
    connections = {}
    for conn_id in CONNECTION_IDS:
        try:
            connections[conn_id] = lookup(conn_id)
        except Exception as exc:
            log.debug("connection %s unavailable: %s", conn_id, exc)
    return Sources(connections, settings.data_dir, settings.source)


class NotDelivered(Exception):
    """The bank being pulled does not deliver this system or entity (banks.yml)."""


def check_delivered(system: str, entity: str | None, bank: str) -> None:
    entities = delivered(bank).get(system)
    if entities is None:
        raise NotDelivered(f"bank {bank!r} has no {system} system (ingest/config/banks.yml)")
    if entity is not None and entity not in entities:
        raise NotDelivered(f"bank {bank!r} does not deliver {system}.{entity}")


def load(system: str, entity: str, logical_date: datetime, sources: Sources) -> dict[str, object]:
    """Load one entity for the business day of ``logical_date``; the batch as a dict."""
    check_delivered(system, entity, sources.bank)
    contract = load_system(system).entity(entity)
    result = load_entity(
        contract, sources, sources.uri(WAREHOUSE_CONN_ID), *business_day(logical_date)
    )
    return result.as_dict()


def delivery_ready(system: str, logical_date: datetime, sources: Sources) -> tuple[bool, str]:
    """Whether a file system's deliveries for the day are complete (done markers)."""
    definition = load_system(system)
    if definition.kind != "files" or not definition.options.get("done_marker"):
        return True, "not a daily file drop"
    try:
        check_delivered(system, None, sources.bank)
    except NotDelivered as exc:
        return True, str(exc)
    interval = business_day(logical_date)
    entity = next(iter(definition.entities.values()))
    try:
        deliveries(entity, sources.data_dir, interval, interval[0])
    except NotReady as exc:
        return False, str(exc)
    return True, "delivered"


def upstream_loaded(system: str, logical_date: datetime, sources: Sources) -> tuple[bool, str]:
    """Whether the raw tables this system references are loaded through the same day."""
    definition = load_system(system)
    tables = sorted(
        {
            f"raw.{ref.raw_table}"
            for entity in definition.entities.values()
            for ref in entity.references
            if ref.system != system
        }
    )
    if not tables:
        return True, "no upstream systems"
    _, end = business_day(logical_date)
    with connect(sources.uri(WAREHOUSE_CONN_ID)) as conn:
        loaded = {
            r[0]
            for r in conn.execute(
                "select distinct target_table from ops.load_batches where status = 'committed'"
                " and target_table = any(%s) and interval_end >= %s",
                (tables, end),
            )
        }
    missing = [t for t in tables if t not in loaded]
    if missing:
        return False, f"waiting for {', '.join(missing)} to be loaded through {end:%Y-%m-%d}"
    return True, "upstream loaded"


def entity_order(system: str) -> list[str]:
    """The system's entities, each after the entities of the same system it references."""
    definition = load_system(system)
    done: list[str] = []
    pending = list(definition.entities)
    while pending:
        for name in pending:
            needs = {
                ref.entity
                for ref in definition.entities[name].references
                if ref.system == system and ref.entity != name
            }
            if needs <= set(done):
                done.append(name)
                pending.remove(name)
                break
        else:
            raise RuntimeError(f"{system}: circular references among {pending}")
    return done


def load_every_system(settings: Settings, day: date) -> dict[str, int]:
    """Load every source system for ``day`` in the order the pipeline's ingest tasks do,
    outside Airflow (benchmarks, tests, backfills); rows loaded per raw table."""
    from warehouse.cli_support import demo_crm

    sources = sources_from(lambda conn_id: settings.connection_uris()[conn_id], settings)
    rows: dict[str, int] = {}
    for system in SYSTEMS:
        definition = load_system(system)
        with demo_crm(settings) if definition.kind == "http" else nullcontext():
            for name in entity_order(system):
                try:
                    check_delivered(system, name, settings.source)
                except NotDelivered:
                    continue
                result = load_entity(
                    definition.entity(name),
                    sources,
                    sources.uri(WAREHOUSE_CONN_ID),
                    *business_day(day),
                )
                rows[result.target_table] = result.rows_loaded
    return rows
