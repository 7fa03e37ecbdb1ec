from warehouse.db import connect
from warehouse.migrate import available, migrate, pending


def test_migrations_are_applied_once(warehouse_url: str) -> None:
    assert pending(warehouse_url) == []
    assert migrate(warehouse_url) == [], "a second run must change nothing"
    with connect(warehouse_url) as conn:
        schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        versions = [
            r[0] for r in conn.execute("select version from ops.schema_migrations order by version")
        ]
    assert {"raw", "quarantine", "ops", "ml"} <= schemas
    assert versions == [m.version for m in available()]


def test_received_equals_loaded_plus_quarantined_is_enforced(warehouse_url: str) -> None:
    import psycopg
    import pytest

    with connect(warehouse_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "insert into ops.load_batches (source_system, source_object, target_table,"
            " interval_start, interval_end, status, rows_received, rows_loaded,"
            " rows_quarantined) values ('s', 'o', 't', now(), now(), 'committed', 10, 9, 0)"
        )
