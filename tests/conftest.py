"""Shared fixtures: a real Postgres for the whole session.

By default the tests start their own embedded server (fresh data folder, free port) so
they never touch a developer's `.crm` state; with WAREHOUSE_URL set they use that server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from warehouse.bootstrap import ensure_ready
from warehouse.db import connect
from warehouse.embedded import server_for
from warehouse.migrate import migrate
from warehouse.settings import PROJECT_ROOT, Settings, with_database

CRM = str(Path(sys.executable).with_name("crm"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of this test session's project (state folder, port, maybe WAREHOUSE_URL)."""
    state = tmp_path_factory.mktemp("crm-state")
    env = {
        "CRM_STATE_DIR": str(state),
        "CRM_PG_PORT": str(free_port()),
        "CRM_API_PORT": str(free_port()),
        "CRM_LOG_LEVEL": "INFO",
    }
    if os.environ.get("WAREHOUSE_URL"):
        env["WAREHOUSE_URL"] = os.environ["WAREHOUSE_URL"]
    return env


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Iterator[Settings]:
    """Settings of the test project, with its warehouse started, created and migrated."""
    current = Settings.from_env(test_env)
    ensure_ready(current)
    yield current
    if current.embedded:
        server_for(current).stop()


@pytest.fixture(scope="session")
def warehouse_url(settings: Settings) -> str:
    return settings.warehouse_url


def fresh_database(settings: Settings, name: str) -> str:
    """A new, empty database on the test server (dropped first if a run left it)."""
    with connect(settings.server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(settings.warehouse_url, name)


@pytest.fixture(scope="module")
def scratch_warehouse(settings: Settings, request: pytest.FixtureRequest) -> str:
    """A migrated warehouse database of this test module's own, so modules never share rows."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    url = fresh_database(settings, f"scratch_{module}"[:63])
    migrate(url)
    return url


def run_crm(
    args: list[str], env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the `crm` command as a user would, with the given project environment."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k != "WAREHOUSE_URL" and not k.startswith(("CRM_", "AIRFLOW"))
    }
    full_env.update(env)
    return subprocess.run(
        [CRM, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        check=False,
    )
