"""The embedded server: start, reuse, stale pid file, taken port, clean stop."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from conftest import free_port

from warehouse.embedded import EmbeddedPostgres, PortInUseError


@pytest.fixture
def server(tmp_path: Path):
    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port(), tmp_path / "logs" / "pg.log")
    yield pg
    pg.stop()


def test_start_reuse_and_stop(server: EmbeddedPostgres) -> None:
    first = server.start()
    assert first.running and first.port == server.port
    with psycopg.connect(server.url) as conn:
        assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
    again = server.start()
    assert again.pid == first.pid, "a running server must be reused, not restarted"
    assert server.stop() is True
    assert not server.status().running
    assert server.stop() is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


def test_restart_keeps_data(server: EmbeddedPostgres) -> None:
    server.start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("create table kept (x int)")
        conn.execute("insert into kept values (42)")
    server.stop()
    server.start()
    with psycopg.connect(server.url) as conn:
        assert conn.execute("select x from kept").fetchone()[0] == 42


def test_stale_pid_file_is_cleared(server: EmbeddedPostgres, caplog) -> None:
    server.start()
    server.stop()
    # A crashed server leaves postmaster.pid behind with a pid that no longer exists.
    pid_file = server.data_dir / "postmaster.pid"
    pid_file.write_text(f"999999\n{server.data_dir}\n0\n{server.port}\n\n127.0.0.1\n0 0\nready\n")
    assert not server.status().running
    status = server.start()
    assert status.running and status.pid != 999999
    assert "stale" in caplog.text


def test_taken_port_gives_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        pg = EmbeddedPostgres(tmp_path / "pgdata", port, tmp_path / "pg.log")
        with pytest.raises(PortInUseError) as info:
            pg.start()
    message = str(info.value)
    assert f"port {port}" in message and "CRM_PG_PORT" in message
    assert not pg.status().running
