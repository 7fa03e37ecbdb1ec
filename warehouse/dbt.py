"""Run dbt against a warehouse URL: the profile's fields come from the URL, nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from warehouse.log import get_logger
from warehouse.settings import PROJECT_ROOT, Settings

log = get_logger("dbt")

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtError(RuntimeError):
    pass


def dbt_env(url: str, settings: Settings) -> dict[str, str]:
    """Variables the profile in dbt_project/profiles.yml reads."""
    parts = urlsplit(url)
    return {
        "CRM_DBT_HOST": parts.hostname or "127.0.0.1",
        "CRM_DBT_PORT": str(parts.port or 5432),
        "CRM_DBT_USER": unquote(parts.username or "postgres"),
        "CRM_DBT_PASSWORD": unquote(parts.password or ""),
        "CRM_DBT_DBNAME": parts.path.strip("/"),
        "CRM_DBT_THREADS": str(settings.dbt_threads),
        "DBT_TARGET_PATH": str(settings.state_dir / "dbt" / "target"),
        "DBT_LOG_PATH": str(settings.state_dir / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "true",
    }


def run_dbt(args: list[str], url: str, settings: Settings) -> list[str]:
    """Run ``dbt <args>`` and stream its lines to the log; raises DbtError on failure."""
    dbt = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    log.info("running %s", " ".join(["dbt", *args]))
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=settings.child_env(dbt_env(url, settings)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            log.info("dbt | %s", line)
    if proc.returncode != 0:
        failures = [ln for ln in lines if "ERROR" in ln or "FAIL" in ln or "Error" in ln]
        summary = "\n".join(failures[-20:]) or "\n".join(lines[-20:])
        raise DbtError(f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n{summary}")
    return lines
