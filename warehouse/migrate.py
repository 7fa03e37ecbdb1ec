"""Idempotent schema migrations: numbered SQL files applied once each, in order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("migrate")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 7_311_001  # advisory lock: concurrent callers wait instead of racing


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def available() -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def applied_versions(url: str) -> dict[str, str]:
    with connect(url, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('ops.schema_migrations')").fetchone()[0]
        if not exists:
            return {}
        rows = conn.execute("select version, checksum from ops.schema_migrations").fetchall()
    return dict(rows)


def pending(url: str) -> list[Migration]:
    done = applied_versions(url)
    return [m for m in available() if m.version not in done]


def migrate(url: str) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns versions applied."""
    applied: list[str] = []
    with connect(url) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("create schema if not exists ops")
            conn.execute(
                "create table if not exists ops.schema_migrations ("
                " version text primary key, checksum text not null,"
                " applied_at timestamptz not null default now())"
            )
            conn.commit()
            done = dict(conn.execute("select version, checksum from ops.schema_migrations"))
            for migration in available():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        log.warning(
                            "migration %s changed after it was applied; add a new "
                            "migration instead of editing it",
                            migration.version,
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.path.read_text())
                    conn.execute(
                        "insert into ops.schema_migrations (version, checksum) values (%s, %s)",
                        (migration.version, migration.checksum),
                    )
                log.info("applied migration %s", migration.version)
                applied.append(migration.version)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
            conn.commit()
    return applied
