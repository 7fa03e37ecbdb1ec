"""Bring the warehouse to a usable state: server up, databases present, schemas migrated."""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.db import can_connect, ensure_database, redact
from warehouse.embedded import server_for
from warehouse.log import get_logger
from warehouse.migrate import migrate
from warehouse.settings import Settings, with_database

log = get_logger("bootstrap")


@dataclass(frozen=True)
class Ready:
    warehouse_url: str
    started_server: bool
    created_databases: list[str]
    applied_migrations: list[str]


class WarehouseNotReady(RuntimeError):
    pass


def ensure_ready(settings: Settings) -> Ready:
    """Idempotent: a second call finds everything in place and changes nothing."""
    started = False
    if settings.embedded:
        server = server_for(settings)
        was_running = server.status().running
        server.start()
        started = not was_running
    else:
        problem = can_connect(settings.warehouse_url)
        if problem and can_connect(settings.server_url) is None:
            problem = None  # the server answers; the missing database is created below
        if problem:
            raise WarehouseNotReady(
                f"WAREHOUSE_URL is set but the server does not answer: {problem}. "
                "Check host, port, user and password, or unset WAREHOUSE_URL to use the "
                "embedded server."
            )
    created = [db for db in settings.managed_databases if _ensure_database(settings, db)]
    for database in created:
        log.info("created database %s on %s", database, redact(settings.server_url))
    applied = migrate(settings.warehouse_url)
    return Ready(settings.warehouse_url, started, created, applied)


def _ensure_database(settings: Settings, database: str) -> bool:
    """Create a missing database; an existing one is used even without CREATEDB rights."""
    if can_connect(with_database(settings.warehouse_url, database)) is None:
        return False
    return ensure_database(settings.server_url, database)
