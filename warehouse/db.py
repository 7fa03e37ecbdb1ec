"""The one connection helper: every module opens Postgres connections through here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


class WarehouseUnavailable(RuntimeError):
    """The server cannot be reached; the message says where and what to check."""


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


@contextmanager
def connect(
    url: str, *, autocommit: bool = False, application: str = "crm", connect_timeout: int = 10
) -> Iterator[psycopg.Connection]:
    """Open a connection; a failure to connect names the server instead of a bare trace."""
    try:
        conn = psycopg.connect(
            url,
            autocommit=autocommit,
            application_name=application,
            connect_timeout=connect_timeout,
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise WarehouseUnavailable(f"cannot connect to {redact(url)}: {reason}") from exc
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def can_connect(url: str, timeout: int = 3) -> str | None:
    """None when the server answers, otherwise the reason it does not."""
    try:
        with connect(url, autocommit=True, connect_timeout=timeout) as conn:
            conn.execute("select 1")
    except WarehouseUnavailable as exc:
        return str(exc)
    return None


def ensure_database(server_url: str, database: str) -> bool:
    """Create ``database`` on the server unless it exists; True when it was created."""
    with connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (database,)
        ).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        return True


def airflow_connection_url(conn_id: str) -> str:
    """URL of an Airflow connection (only inside Airflow tasks; imported lazily)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id).get_uri()
