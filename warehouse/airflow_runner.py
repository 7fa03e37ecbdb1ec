"""Run Airflow commands with the project's environment (metadata DB, DAGs, connections)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def migrate_metadata(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    log_file = settings.logs_dir / "airflow-db-migrate.log"
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    code, lines = run_airflow(settings, "db", "migrate", log_file=log_file)
    if code != 0:
        tail = "\n".join(lines[-15:])
        raise AirflowError(f"`airflow db migrate` failed (exit {code}); see {log_file}:\n{tail}")
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
    settings: Settings, dag_id: str, logical_date: str, echo: Callable[[str], None] = print
) -> DagTestResult:
    """Run one DAG run in process (``airflow dags test``), echoing task starts and ends."""
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

    code, lines = run_airflow(
        settings, "dags", "test", dag_id, logical_date, log_file=log_file, on_line=on_line
    )
    succeeded = code == 0 and any("state=success" in ln for ln in lines[-20:])
    if not succeeded:
        errors = [ln for ln in lines if _FAILURE.search(ln)]
        detail = "\n".join(errors[-25:]) or "\n".join(lines[-25:])
        raise AirflowError(
            f"DAG {dag_id} run for {logical_date} failed (exit {code}). Full log: {log_file}\n"
            f"{detail}"
        )
    return DagTestResult(
        dag_id, logical_date, succeeded, done, log_file, time.monotonic() - started
    )
