"""Run Airflow commands with the project's environment (metadata DB, DAGs, connections)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from warehouse.db import WarehouseUnavailable, connect, redact
from warehouse.log import get_logger
from warehouse.settings import Settings

log = get_logger("airflow")

_TASK_EVENT = re.compile(r"\[DAG TEST\] (starting|end) task task_id=(\S+)")
_FAILURE = re.compile(r"(Task failed|ERROR|Traceback|state=failed|marked as failed)", re.I)


class AirflowError(RuntimeError):
    pass


def airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def run_airflow(
    settings: Settings,
    *args: str,
    log_file: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> tuple[int, list[str]]:
    """Run ``airflow <args>``; every line goes to ``log_file`` and to ``on_line``."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    handle = log_file.open("w", encoding="utf-8") if log_file else None
    started = time.monotonic()
    try:
        with subprocess.Popen(
            [airflow_executable(), *args],
            env=settings.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=settings.airflow_home,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if handle:
                    handle.write(line)
                if on_line:
                    on_line(line.rstrip("\n"))
                if timeout and time.monotonic() - started > timeout:
                    proc.kill()
                    raise AirflowError(f"airflow {' '.join(args)} timed out after {timeout} s")
    finally:
        if handle:
            handle.close()
    return proc.returncode, lines


def _metadata_revision(settings: Settings) -> str | None:
    """Alembic revision of Airflow's metadata database, or None when unknown."""
    url = settings.airflow_db_url
    if not url.startswith("postgresql+psycopg://"):
        return None
    try:
        with connect("postgresql://" + url.split("://", 1)[1], autocommit=True) as conn:
            if not conn.execute("select to_regclass('public.alembic_version')").fetchone()[0]:
                return None
            row = conn.execute("select version_num from alembic_version").fetchone()
    except WarehouseUnavailable:
        return None
    return row[0] if row else None


def _stamp(settings: Settings, revision: str | None) -> dict[str, str | None]:
    return {
        "database": redact(settings.airflow_db_url),
        "airflow": metadata.version("apache-airflow"),
        "revision": revision,
    }


def migrate_metadata(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database; skipped when already current."""
    stamp_file = settings.airflow_home / ".crm-metadata-stamp.json"
    revision = _metadata_revision(settings)
    if revision and stamp_file.exists():
        try:
            if json.loads(stamp_file.read_text()) == _stamp(settings, revision):
                log.info("Airflow metadata database is current (revision %s)", revision)
                return
        except ValueError:
            pass
    log_file = settings.logs_dir / "airflow-db-migrate.log"
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    code, lines = run_airflow(settings, "db", "migrate", log_file=log_file)
    if code != 0:
        tail = "\n".join(lines[-15:])
        raise AirflowError(f"`airflow db migrate` failed (exit {code}); see {log_file}:\n{tail}")
    stamp_file.write_text(json.dumps(_stamp(settings, _metadata_revision(settings))))
    log.info("Airflow metadata database ready (%.1f s)", time.monotonic() - started)


@dataclass(frozen=True)
class DagTestResult:
    dag_id: str
    logical_date: str
    succeeded: bool
    tasks_done: list[str]
    log_file: Path
    seconds: float


def dags_test(
    settings: Settings,
    dag_id: str,
    logical_date: str,
    echo: Callable[[str], None] = print,
    conf: dict[str, object] | None = None,
) -> DagTestResult:
    """Run one DAG run in process (``airflow dags test``), echoing task starts and ends."""
    from warehouse.dbt import ensure_manifest

    # Parsed here, so that parsing the DAGs (with its import timeout) only reads the file.
    ensure_manifest(settings)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.logs_dir / f"{dag_id}-{logical_date}.log"
    done: list[str] = []
    started = time.monotonic()

    def on_line(line: str) -> None:
        match = _TASK_EVENT.search(line)
        if match:
            event, task_id = match.groups()
            elapsed = time.monotonic() - started
            if event == "end":
                done.append(task_id)
            echo(f"  [{elapsed:6.1f}s] {'start' if event == 'starting' else 'done '} {task_id}")

    extra = ("--conf", json.dumps(conf)) if conf else ()
    code, lines = run_airflow(
        settings, "dags", "test", dag_id, logical_date, *extra, log_file=log_file, on_line=on_line
    )
    succeeded = code == 0 and any("state=success" in ln for ln in lines[-20:])
    if not succeeded:
        errors = [ln for ln in lines if _FAILURE.search(ln)]
        detail = "\n".join(errors[-25:]) or "\n".join(lines[-25:])
        raise AirflowError(
            f"DAG {dag_id} run for {logical_date} failed (exit {code}). Full log: {log_file}\n"
            f"{detail}"
        )
    if not done:
        raise AirflowError(
            f"DAG {dag_id} run for {logical_date} finished without running a task (is the date "
            f"before the DAG's start_date?). Full log: {log_file}"
        )
    return DagTestResult(
        dag_id, logical_date, succeeded, done, log_file, time.monotonic() - started
    )


# What a scheduler does after a run that updated Assets, done in process by `crm run`:
# every DAG scheduled on Assets runs once its Asset condition holds for the Assets the run
# updated. The conditions are read by Airflow itself, as nested JSON: an Asset is its URI,
# {"all": [...]} / {"any": [...]} the conditions combined.
_SCHEDULES_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

def shape(condition):
    if getattr(condition, "uri", None):
        return condition.uri
    kind = "any" if type(condition).__name__ == "AssetAny" else "all"
    return {kind: [shape(o) for o in condition.objects]}

bag = DagBag(dag_folder=sys.argv[1])
schedules = {}
for dag_id, dag in bag.dags.items():
    condition = getattr(dag.timetable, "asset_condition", None)
    if condition is not None:
        schedules[dag_id] = shape(condition)
print("SCHEDULES:" + json.dumps(schedules))
"""

Condition = str | dict[str, list["Condition"]]


def condition_holds(condition: Condition, updated: set[str]) -> bool:
    """Whether an Asset condition (as asset_schedules gives it) holds for ``updated``."""
    if isinstance(condition, str):
        return condition in updated
    ((kind, parts),) = condition.items()
    results = [condition_holds(part, updated) for part in parts]
    return bool(results) and (all(results) if kind == "all" else any(results))


def _condition_uris(condition: Condition) -> set[str]:
    if isinstance(condition, str):
        return {condition}
    ((_, parts),) = condition.items()
    return set().union(*(_condition_uris(part) for part in parts)) if parts else set()


def asset_schedules(settings: Settings) -> dict[str, Condition]:
    """The DAGs scheduled on Assets and the condition each waits for (parsed by Airflow)."""
    from warehouse.settings import PROJECT_ROOT

    done = subprocess.run(
        [sys.executable, "-c", _SCHEDULES_SCRIPT, str(PROJECT_ROOT / "dags")],
        env=settings.child_env(),
        capture_output=True,
        text=True,
        cwd=settings.airflow_home,
        check=False,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("SCHEDULES:")), None)
    if done.returncode != 0 or line is None:
        raise AirflowError(f"could not read the DAGs' Asset schedules:\n{done.stderr[-2000:]}")
    return json.loads(line[len("SCHEDULES:") :])


def assets_updated(settings: Settings, dag_id: str, since: float) -> set[str]:
    """URIs of the Assets that ``dag_id``'s tasks updated since ``since`` (epoch seconds)."""
    url = settings.airflow_db_url
    if not url.startswith("postgresql+psycopg://"):
        raise AirflowError("Asset events are read from a Postgres metadata database only")
    with connect("postgresql://" + url.split("://", 1)[1], autocommit=True) as conn:
        rows = conn.execute(
            "select distinct asset.uri from asset_event as event"
            " join asset on asset.id = event.asset_id"
            " where event.source_dag_id = %s and event.timestamp >= to_timestamp(%s)",
            (dag_id, since),
        ).fetchall()
    return {uri for (uri,) in rows}


def dags_test_with_triggered(
    settings: Settings,
    dag_id: str,
    logical_date: str,
    echo: Callable[[str], None] = print,
) -> list[DagTestResult]:
    """Run ``dag_id``, then, as the scheduler would, each DAG its Asset updates trigger."""
    started = time.time() - 1
    results = [dags_test(settings, dag_id, logical_date, echo=echo)]
    updated = assets_updated(settings, dag_id, started)
    if not updated:
        return results
    for consumer, condition in asset_schedules(settings).items():
        if consumer != dag_id and condition_holds(condition, updated):
            waited = sorted(_condition_uris(condition) & updated)
            echo(f"DAG {consumer}: triggered by {dag_id}'s update of {', '.join(waited)}")
            results.append(dags_test(settings, consumer, logical_date, echo=echo))
    return results
