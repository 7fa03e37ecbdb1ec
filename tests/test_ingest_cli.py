"""`crm ingest ...` as an engineer meets it: load, backfill, inspect, reset, clear errors."""

from __future__ import annotations

import pytest
from conftest import fresh_database, run_crm

from warehouse.db import connect
from warehouse.settings import Settings


@pytest.fixture(scope="module")
def env(settings: Settings, test_env: dict[str, str], tmp_path_factory) -> dict[str, str]:
    """A project on the test server with its own databases and drop folder."""
    data = tmp_path_factory.mktemp("ingest-cli-data")
    return {
        **test_env,
        "WAREHOUSE_URL": fresh_database(settings, "scratch_ingest_cli"),
        "CORE_BANKING_URL": fresh_database(settings, "scratch_ingest_cli_core"),
        "CRM_DATA_DIR": str(data),
    }


def _ok(args: list[str], env: dict[str, str]) -> str:
    done = run_crm(args, env, 300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_run_backfill_batches_quarantine_and_reset(env: dict[str, str]) -> None:
    _ok(["migrate"], env)
    _ok(
        ["demo-bank", "generate", "--customers", "80", "--months", "2", "--start", "2024-01",
         "--as-of", "2024-01-12"],
        env,
    )  # fmt: skip
    first = _ok(
        ["ingest", "run", "core_banking", "--date", "2024-01-10", "--to", "2024-01-12"], env
    )
    assert first.count("received =") == 15 and "raw.core_banking__transactions" in first
    days = _ok(["ingest", "run", "cards", "--date", "2024-01-10", "--to", "2024-01-12"], env)
    assert [line.split()[0] for line in days.splitlines() if "cards__cards " in line] == [
        "2024-01-10",
        "2024-01-11",
        "2024-01-12",
    ]
    listing = _ok(["ingest", "batches", "--target", "raw.cards__cards"], env)
    assert listing.count("committed") == 3
    assert "no quarantined rows" in _ok(["ingest", "quarantine"], env)

    reset = _ok(["ingest", "reset", "raw.cards__cards", "--yes"], env)
    assert "3 batches" in reset
    with connect(env["WAREHOUSE_URL"]) as conn:
        gone = conn.execute("select to_regclass('raw.cards__cards') is null").fetchone()[0]
        batches = conn.execute(
            "select count(*) from ops.load_batches where target_table = 'raw.cards__cards'"
        ).fetchone()[0]
    assert gone and batches == 0


def test_errors_are_one_clear_line(env: dict[str, str]) -> None:
    done = run_crm(["ingest", "run", "cards", "--date", "2031-05-01"], env, 120)
    assert done.returncode == 1
    assert "no delivery for 2031-05-01" in done.stderr and "Traceback" not in done.stderr
    done = run_crm(["ingest", "run", "no_such_system", "--date", "2024-01-10"], env, 120)
    assert done.returncode == 1 and "no source configuration" in done.stderr
    done = run_crm(["ingest", "reset", "raw.x; drop table y", "--yes"], env, 120)
    assert done.returncode == 1 and "not a plain lower-case SQL identifier" in done.stderr
