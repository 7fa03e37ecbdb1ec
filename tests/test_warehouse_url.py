"""With WAREHOUSE_URL set nothing is started and every stage uses that server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import free_port, run_crm

from expectations.runner import run_gate
from ingest.config import load_system
from ingest.load import Sources, load_entity
from sources.demo_bank.bank import generate
from sources.demo_bank.config import DemoBankConfig, Layout
from warehouse.db import connect
from warehouse.dbt import run_dbt
from warehouse.embedded import EmbeddedPostgres
from warehouse.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def other_server(tmp_path_factory):
    """A second, independent Postgres standing in for a bank's own server."""
    root = tmp_path_factory.mktemp("other-server")
    server = EmbeddedPostgres(root / "pgdata", free_port(), root / "pg.log")
    server.start()
    yield server
    server.stop()


def test_every_stage_runs_on_the_configured_server(other_server, tmp_path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{other_server.port}/bank_dwh"
    env = {
        "WAREHOUSE_URL": url,
        "CRM_STATE_DIR": str(tmp_path / "state"),
        "CRM_PG_PORT": str(free_port()),
    }

    started = run_crm(["warehouse", "start"], env, 120)
    assert started.returncode == 0, started.stderr
    assert "nothing started" in started.stdout
    assert not (tmp_path / "state" / "pgdata").exists(), "no embedded server may be created"
    status = run_crm(["warehouse", "status"], env, 60)
    assert status.returncode == 0 and "reachable" in status.stdout

    settings = Settings.from_env(env)
    published = generate(
        DemoBankConfig(customers=80, months=2, seed=5),
        Layout(tmp_path / "data"),
        settings.core_banking_url,
    )
    interval = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    sources = Sources({"core_banking": settings.core_banking_url}, tmp_path / "data")
    for entity in load_system("core_banking").entities.values():
        load_entity(entity, sources, url, *interval)
    run_dbt(["build"], url, settings)
    gate = run_gate("mart_customer_balances", url, "warehouse-url-test")

    with connect(url) as conn:
        mart_rows = conn.execute("select count(*) from marts.mart_customer_balances").fetchone()[0]
        databases = {r[0] for r in conn.execute("select datname from pg_database")}
    assert mart_rows == published["customers"] and gate.success
    assert {"bank_dwh", "airflow", "demo_core_banking"} <= databases
