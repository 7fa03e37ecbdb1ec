"""The `crm` command: run the pipeline, manage the warehouse, start Airflow, diagnose."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli import ingest_app
from warehouse.cli_support import _fail, _settings, demo_crm, friendly_errors
from warehouse.settings import SETTINGS_DOC, Settings, SettingsError, get_settings

app = typer.Typer(
    help="Bank customer-relationship warehouse: pipeline, warehouse and Airflow.",
    no_args_is_help=True,
    add_completion=False,
)
warehouse_app = typer.Typer(
    help="The warehouse server (embedded unless WAREHOUSE_URL is set).", no_args_is_help=True
)
app.add_typer(warehouse_app, name="warehouse")
demo_app = typer.Typer(
    help="The demo bank: a simulated bank's six source systems.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo-bank")
berka_app = typer.Typer(
    help="A real bank's extract: the PKDD'99 (Berka) Czech bank data.", no_args_is_help=True
)
app.add_typer(berka_app, name="berka")
app.add_typer(ingest_app, name="ingest")

# --- crm warehouse ... ----------------------------------------------------------------


@warehouse_app.command("start")
@friendly_errors
def warehouse_start() -> None:
    """Start the embedded Postgres (reused if running), create databases, migrate."""
    from warehouse.bootstrap import ensure_ready

    settings = _settings()
    ready = ensure_ready(settings)
    if settings.embedded:
        state = "started" if ready.started_server else "already running"
        typer.echo(f"embedded Postgres {state} on 127.0.0.1:{settings.pg_port}")
    else:
        typer.echo("WAREHOUSE_URL is set: using that server, nothing started")
    typer.echo(f"warehouse: {_redacted(settings.warehouse_url)}")


@warehouse_app.command("stop")
@friendly_errors
def warehouse_stop() -> None:
    """Stop the embedded Postgres cleanly."""
    from warehouse.embedded import server_for

    settings = _settings()
    if not settings.embedded:
        typer.echo("WAREHOUSE_URL is set: the warehouse is not managed here, nothing to stop")
        return
    stopped = server_for(settings).stop()
    typer.echo("embedded Postgres stopped" if stopped else "embedded Postgres was not running")


@warehouse_app.command("status")
@friendly_errors
def warehouse_status() -> None:
    """Say whether the warehouse runs and where; exit 1 when it is down."""
    from warehouse.db import can_connect
    from warehouse.embedded import server_for

    settings = _settings()
    if settings.embedded:
        status = server_for(settings).status()
        typer.echo(f"embedded Postgres: {status.describe()}")
        if not status.running:
            raise typer.Exit(1)
        return
    problem = can_connect(settings.warehouse_url)
    typer.echo(
        f"external warehouse {_redacted(settings.warehouse_url)}: "
        f"{'reachable' if problem is None else problem}"
    )
    if problem:
        raise typer.Exit(1)


@warehouse_app.command("url")
def warehouse_url(
    database: Annotated[str | None, typer.Option(help="Another database on the server")] = None,
    sqlalchemy: Annotated[bool, typer.Option(help="postgresql+psycopg:// form")] = False,
) -> None:
    """Print the warehouse connection URL (for psql, BI tools, notebooks)."""
    from warehouse.settings import sqlalchemy_url, with_database

    try:
        settings = get_settings()
    except SettingsError as exc:
        _fail(str(exc))
    url = with_database(settings.warehouse_url, database) if database else settings.warehouse_url
    typer.echo(sqlalchemy_url(url) if sqlalchemy else url)


# --- crm demo-bank ... ----------------------------------------------------------------


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
    return None


@demo_app.command("generate")
@friendly_errors
def demo_generate(
    customers: Annotated[int, typer.Option(help="Number of customers")] = 2000,
    months: Annotated[int, typer.Option(help="Months of history")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes)")] = 42,
    start: Annotated[str, typer.Option(help="First month (YYYY-MM)")] = "2024-01",
    as_of: Annotated[
        str | None, typer.Option(help="Publish up to this day (YYYY-MM-DD); default the last day")
    ] = None,
    defects: Annotated[
        float,
        typer.Option(help="Share of files and rows made defective, 0..1; see the manifest"),
    ] = 0.0,
) -> None:
    """Simulate the bank and publish its source systems up to the bank date."""
    from sources.demo_bank.bank import generate
    from sources.demo_bank.config import DemoBankConfig, Layout
    from warehouse.bootstrap import ensure_ready

    settings = _settings()
    first = _parse_date(f"{start}-01", "--start")
    try:
        cfg = DemoBankConfig(
            customers=customers, months=months, seed=seed, start=first, defect_rate=defects
        )
    except ValueError as exc:
        _fail(str(exc))
    ensure_ready(settings)
    try:
        counts = generate(
            cfg, Layout(settings.data_dir), settings.core_banking_url, _parse_date(as_of, "--as-of")
        )
    except ValueError as exc:
        _fail(str(exc))
    _print_counts(counts)


@demo_app.command("advance")
@friendly_errors
def demo_advance(
    to: Annotated[str, typer.Option(help="New bank date (YYYY-MM-DD)")],
) -> None:
    """Publish the next days: new and changed rows appear in every source system."""
    from sources.demo_bank.bank import advance
    from sources.demo_bank.config import Layout

    settings = _settings()
    try:
        counts = advance(
            Layout(settings.data_dir), settings.core_banking_url, _parse_date(to, "--to")
        )
    except ValueError as exc:
        _fail(str(exc))
    _print_counts(counts)


@demo_app.command("check-ml")
@friendly_errors
def demo_check_ml(
    through: Annotated[
        str | None, typer.Option("--through", help="Last day (YYYY-MM-DD); default the bank date")
    ] = None,
) -> None:
    """Run the ML models on the built warehouse and measure them against the demo bank's
    hidden truth (churn AUC, stage agreement, anomaly precision and recall, segment
    stability); recorded in ml.model_runs as demo_truth_check."""
    import json

    from ml.truth import check_against_truth
    from sources.demo_bank.bank import bank_date
    from sources.demo_bank.config import Layout

    settings = _settings()
    day = _parse_date(through, "--through") or bank_date(Layout(settings.data_dir))
    if day is None:
        _fail("no demo bank here: run `crm demo-bank generate` and `crm run` first")
    try:
        figures = check_against_truth(settings.warehouse_url, settings.data_dir, day)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(figures, indent=2))


@demo_app.command("serve-crm")
@friendly_errors
def demo_serve_crm(
    port: Annotated[int | None, typer.Option(help="Port (default CRM_API_PORT)")] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless --allow-non-loopback)")
    ] = "127.0.0.1",
    allow_non_loopback: Annotated[
        bool,
        typer.Option(
            "--allow-non-loopback",
            help="Allow a non-loopback --host, on a private network only such as compose's "
            "(the demo CRM holds personal data behind a static token)",
        ),
    ] = False,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 500")] = 0.0,
    rate: Annotated[float, typer.Option(help="Requests per second per token")] = 50.0,
) -> None:
    """Serve the CRM system's HTTP API, on 127.0.0.1 by default (bearer token CRM_API_TOKEN)."""
    from sources.demo_bank.config import Layout
    from sources.demo_bank.crm_api import check_loopback, serve

    if not allow_non_loopback:
        try:
            check_loopback(host)
        except ValueError as exc:
            _fail(f"{exc}; pass --allow-non-loopback to serve a private network on purpose")
    settings = _settings()
    layout = Layout(settings.data_dir)
    if not layout.state_file.exists():
        _fail(f"no demo bank in {layout.root}: run `crm demo-bank generate` first")
    chosen = port or settings.crm_api_port
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"CRM API on http://{shown}:{chosen}/api/v1 (Ctrl-C stops it)")
    serve(
        layout.world,
        layout.state_file,
        settings.crm_api_token,
        host=host,
        port=chosen,
        allow_non_loopback=allow_non_loopback,
        error_rate=error_rate,
        rate_per_second=rate,
    )


@berka_app.command("load")
@friendly_errors
def berka_load(
    path: Annotated[
        Path | None, typer.Option(help="Folder of the .asc files (default CRM_BERKA_DIR)")
    ] = None,
) -> None:
    """Map the Berka extract onto the source contract: core database, card and wealth files."""
    from sources.berka import BerkaFormatError, load_berka
    from sources.demo_bank.config import Layout
    from warehouse.bootstrap import ensure_ready

    settings = _settings()
    folder = path or settings.berka_dir
    if not folder.is_dir():
        _fail(f"no Berka extract at {folder}: pass --path or set CRM_BERKA_DIR")
    ensure_ready(settings)
    try:
        counts = load_berka(folder, settings.core_banking_url, settings.data_dir)
    except BerkaFormatError as exc:
        _fail(str(exc))
    # The source databases hold one bank at a time: the demo bank must be regenerated.
    Layout(settings.data_dir).state_file.unlink(missing_ok=True)
    _print_counts(counts)
    typer.echo(
        "The core-banking source now holds the Berka bank; `crm demo-bank generate` "
        "(or the next `crm run`) replaces it with the demo bank."
    )


def _print_counts(counts: dict[str, int]) -> None:
    width = max((len(k) for k in counts), default=10)
    for name, count in counts.items():
        typer.echo(f"  {name:<{width}}  {count:>12,}")


# --- top-level commands ---------------------------------------------------------------


@app.command()
@friendly_errors
def migrate() -> None:
    """Create missing databases and apply pending schema migrations (idempotent)."""
    from warehouse.bootstrap import ensure_ready

    ready = ensure_ready(_settings())
    typer.echo(
        f"databases created: {ready.created_databases or 'none'}; "
        f"migrations applied: {ready.applied_migrations or 'none (up to date)'}"
    )


def _default_logical_date() -> str:
    return (date.today() - timedelta(days=1)).isoformat()


@app.command()
@friendly_errors
def run(
    logical_date: Annotated[
        str | None,
        typer.Option("--date", help="Logical date of the run (YYYY-MM-DD); default yesterday"),
    ] = None,
    dag_id: Annotated[str, typer.Option(help="DAG to run")] = "crm_pipeline",
) -> None:
    """Run the whole pipeline through Airflow (`airflow dags test`), then the DAGs its Assets
    trigger (the ML labels), as the scheduler would, and print what it built."""
    from reports.summary import collect, render
    from warehouse.airflow_runner import dags_test_with_triggered, migrate_metadata
    from warehouse.bootstrap import ensure_ready

    settings = _settings()
    if logical_date is None and settings.source == "berka":
        from sources.prepare import berka_run_date

        logical_date = berka_run_date(settings).isoformat()
        typer.echo(f"CRM_SOURCE=berka: the run is for the extract's last day, {logical_date}")
    when = logical_date or _default_logical_date()
    try:
        date.fromisoformat(when)
    except ValueError:
        _fail(f"--date {when!r} is not a date (YYYY-MM-DD)")
    typer.echo("1/3 warehouse: server, databases, migrations")
    ensure_ready(settings)
    typer.echo("2/3 Airflow metadata database")
    migrate_metadata(settings)
    typer.echo(f"3/3 running DAG {dag_id} for {when} (full log in {settings.logs_dir})")
    with demo_crm(settings):
        results = dags_test_with_triggered(settings, dag_id, when, echo=typer.echo)
    typer.echo("")
    for result in results:
        typer.echo(
            f"DAG {result.dag_id} succeeded in {result.seconds:.0f} s "
            f"({len(result.tasks_done)} tasks)."
        )
    typer.echo("")
    typer.echo(render(collect(settings.warehouse_url)))
    typer.echo(_next_steps(settings, results[0].log_file))


def _next_steps(settings: Settings, log_file: object) -> str:
    return (
        "\nWhere to look next:\n"
        f'  psql "{settings.warehouse_url}"      (schemas raw, staging, marts, ml, ops)\n'
        f"  crm airflow                              (Airflow UI on "
        f"http://localhost:{settings.airflow_port})\n"
        f"  {log_file}\n"
        "  crm doctor                               (checks the set-up)"
    )


@app.command("airflow")
@friendly_errors
def airflow_cmd(
    port: Annotated[int | None, typer.Option(help="UI port (default CRM_AIRFLOW_PORT)")] = None,
) -> None:
    """Start Airflow (api-server with UI, scheduler, dag-processor, triggerer) in foreground."""
    from warehouse.airflow_runner import airflow_executable, migrate_metadata
    from warehouse.bootstrap import ensure_ready
    from warehouse.dbt import ensure_manifest

    settings = _settings()
    ensure_ready(settings)
    migrate_metadata(settings)
    ensure_manifest(settings)
    env = settings.child_env({"AIRFLOW__API__HOST": "127.0.0.1"})
    if port:
        env["AIRFLOW__API__PORT"] = str(port)
    typer.echo(f"Airflow UI: http://localhost:{env['AIRFLOW__API__PORT']}  (Ctrl-C stops it)")
    with demo_crm(settings):
        code = run_until_stopped([airflow_executable(), "standalone"], env)
    raise typer.Exit(code)


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run a process tree in its own group; Ctrl-C or SIGTERM stops the whole tree."""
    proc = subprocess.Popen(command, env=env, start_new_session=True)

    def stop(_signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@app.command()
def doctor() -> None:
    """Check the environment and say what is wrong and how to fix it."""
    from warehouse.doctor import render, run_checks

    checks = run_checks()
    typer.echo(render(checks))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command("settings")
def show_settings() -> None:
    """List every setting: its variable, the value in force, and what it means."""
    from warehouse.db import redact

    try:
        values = get_settings().effective()
    except SettingsError as exc:
        _fail(str(exc))
    for item in SETTINGS_DOC:
        typer.echo(f"{item.name} = {redact(values[item.name])}")
        typer.echo(f"    {item.help} Default: {item.default}.")


def _redacted(url: str) -> str:
    from warehouse.db import redact

    return redact(url)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
