"""Run dbt against a warehouse URL: the profile's fields come from the URL, nothing else."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from warehouse.log import get_logger
from warehouse.settings import PROJECT_ROOT, Settings

log = get_logger("dbt")

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_PROFILE = "crm_warehouse"
DBT_TARGET = "dev"


# Everything built on the ML labels (models/staging/ml): rebuilt after the ML stage writes.
LABELLED_MARTS = "path:models/staging/ml+"


class DbtError(RuntimeError):
    pass


def dbt_target_path(settings: Settings) -> Path:
    """Where dbt writes its manifest, run results and partial-parse cache."""
    return settings.state_dir / "dbt" / "target"


def dbt_run_env(settings: Settings) -> dict[str, str]:
    """Variables every dbt invocation gets, whoever runs it (this module or Cosmos)."""
    return {
        "CRM_DBT_THREADS": str(settings.dbt_threads),
        "DBT_TARGET_PATH": str(dbt_target_path(settings)),
        "DBT_LOG_PATH": str(settings.state_dir / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "true",
    }


def dbt_env(url: str, settings: Settings) -> dict[str, str]:
    """Variables the profile in dbt_project/profiles.yml reads."""
    parts = urlsplit(url)
    return {
        "CRM_DBT_HOST": parts.hostname or "127.0.0.1",
        "CRM_DBT_PORT": str(parts.port or 5432),
        "CRM_DBT_USER": unquote(parts.username or "postgres"),
        "CRM_DBT_PASSWORD": unquote(parts.password or ""),
        "CRM_DBT_DBNAME": parts.path.strip("/"),
        **dbt_run_env(settings),
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
        # Named as Cosmos names them: dbt's partial-parse cache is only reused by a run
        # with the same profile and target arguments.
        "--profile",
        DBT_PROFILE,
        "--target",
        DBT_TARGET,
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


def _project_files_changed_after(stamp: float) -> bool:
    for folder in ("models", "macros", "seeds", "tests", "snapshots", "analyses"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file() and path.stat().st_mtime > stamp:
                return True
    return (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime > stamp


def ensure_manifest(settings: Settings) -> Path:
    """dbt's manifest of the project, re-parsed only when a project file changed.

    Airflow renders the per-model task group from it when it parses the DAG, so parsing stays
    a file read; `dbt parse` runs (a few seconds) only after the project changed.
    """
    manifest = dbt_target_path(settings) / "manifest.json"
    if manifest.exists() and not _project_files_changed_after(manifest.stat().st_mtime):
        return manifest
    dbt_target_path(settings).mkdir(parents=True, exist_ok=True)
    with (dbt_target_path(settings) / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and not _project_files_changed_after(manifest.stat().st_mtime):
            return manifest
        try:
            run_dbt(["parse", "--quiet"], settings.warehouse_url, settings)
        except DbtError:
            if not manifest.exists():
                raise
            # The build itself will report the project's error; until it is fixed the
            # DAG keeps the task group of the last project that parsed.
            log.warning("dbt parse failed; rendering the last parsed manifest %s", manifest)
    return manifest


@dataclass(frozen=True)
class SourceFreshness:
    """One source table's freshness as dbt judged it (`pass`, `warn`, `error`)."""

    source: str
    status: str
    max_loaded_at: str | None
    age_hours: float | None


def freshness_selection(bank: str) -> list[str]:
    """dbt selectors of the raw tables ``bank`` delivers (ingest/config/banks.yml): a table
    it never delivers has no freshness to judge."""
    from ingest.config import delivered

    return [
        f"source:{system}.{entity}"
        for system, entities in delivered(bank).items()
        for entity in entities
    ]


def check_source_freshness(url: str, settings: Settings) -> list[SourceFreshness]:
    """`dbt source freshness` on what the bank delivers; raises DbtError past `error_after`."""
    output = dbt_target_path(settings) / "sources.json"
    failure: DbtError | None = None
    try:
        run_dbt(
            [
                "source",
                "freshness",
                "--select",
                *freshness_selection(settings.source),
                "--output",
                str(output),
            ],
            url,
            settings,
        )
    except DbtError as error:
        failure = error
    results = []
    if output.exists():
        for result in json.loads(output.read_text())["results"]:
            age = result.get("max_loaded_at_time_ago_in_s")
            results.append(
                SourceFreshness(
                    source=result["unique_id"].removeprefix("source.crm_warehouse."),
                    status=result["status"],
                    max_loaded_at=result.get("max_loaded_at"),
                    age_hours=round(age / 3600, 1) if age is not None else None,
                )
            )
    stale = [r for r in results if r.status in ("error", "runtime error")]
    if failure is not None or stale:
        named = ", ".join(f"{r.source} (loaded {r.age_hours} h ago)" for r in stale)
        raise DbtError(f"source freshness failed: {named or failure}")
    for result in results:
        if result.status == "warn":
            log.warning("source %s is stale: loaded %s h ago", result.source, result.age_hours)
    return results
