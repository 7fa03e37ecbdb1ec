"""`crm ingest ...`: load source systems outside Airflow, inspect batches and quarantine."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from warehouse.cli_support import _settings, demo_crm, friendly_errors

ingest_app = typer.Typer(
    help="Pull source systems into raw (as the Airflow DAGs do), inspect and reset loads.",
    no_args_is_help=True,
)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


@ingest_app.command("run")
@friendly_errors
def run(
    system: Annotated[str, typer.Argument(help="Source system (see ingest/config/*.yml)")],
    day: Annotated[str, typer.Option("--date", help="Business day to load (YYYY-MM-DD)")],
    until: Annotated[
        str | None, typer.Option("--to", help="Last day of a backfill, loaded in order")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity")] = None,
) -> None:
    """Load one system (or entity) for a day, or for every day up to --to, like its DAG."""
    from contextlib import nullcontext

    from ingest.config import load_system
    from ingest.intervals import business_day
    from ingest.load import load_entity
    from ingest.tasks import NotDelivered, check_delivered, sources_from
    from warehouse.bootstrap import ensure_ready
    from warehouse.settings import WAREHOUSE_CONN_ID

    settings = _settings()
    definition = load_system(system)
    first = _day(day, "--date")
    last = _day(until, "--to") if until else first
    if last < first:
        raise typer.BadParameter("--to is before --date", param_hint="--to")
    names = [entity] if entity else list(definition.entities)
    for name in names:
        definition.entity(name)
    ensure_ready(settings)
    sources = sources_from(lambda conn_id: settings.connection_uris()[conn_id], settings)
    with demo_crm(settings) if definition.kind == "http" else nullcontext():
        current = first
        while current <= last:
            for name in names:
                try:
                    check_delivered(system, name, settings.source)
                except NotDelivered as exc:
                    typer.echo(f"{current} {system}.{name}: skipped ({exc})")
                    continue
                result = load_entity(
                    definition.entity(name),
                    sources,
                    sources.uri(WAREHOUSE_CONN_ID),
                    *business_day(current),
                )
                typer.echo(
                    f"{current} {result.target_table:<36} batch {result.batch_id:>6}: "
                    f"{result.rows_received:>9,} received = {result.rows_loaded:>9,} loaded + "
                    f"{result.rows_quarantined:,} quarantined"
                    + (f"  drift {result.schema_drift}" if result.schema_drift else "")
                )
            current += timedelta(days=1)


@ingest_app.command("batches")
@friendly_errors
def batches(
    target: Annotated[
        str | None, typer.Option(help="Only this raw table (raw.<system>__<entity>)")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many")] = 30,
) -> None:
    """The latest load batches with their counts and status."""
    from ingest.audit import recent_batches

    settings = _settings()
    for b in recent_batches(settings.warehouse_url, target, limit):
        counts = (
            f"{b.rows_received:,} = {b.rows_loaded:,} + {b.rows_quarantined:,}"
            if b.rows_received is not None
            else "-"
        )
        typer.echo(
            f"{b.batch_id:>7} {b.interval_start:%Y-%m-%d} {b.target_table:<36} {b.status:<9} "
            f"{counts}" + (f"  {b.message}" if b.message else "")
        )


@ingest_app.command("quarantine")
@friendly_errors
def quarantine(
    batch: Annotated[int | None, typer.Option(help="Only this batch id")] = None,
) -> None:
    """Rejected rows by table, source and rule, with an example of each."""
    from ingest.audit import quarantine_summary

    settings = _settings()
    found = quarantine_summary(settings.warehouse_url, batch)
    if not found:
        typer.echo("no quarantined rows")
    for target, source, rule, count, example in found:
        typer.echo(f"{count:>7,} {rule:<17} {target} <- {source}\n          e.g. {example}")


@ingest_app.command("reset")
@friendly_errors
def reset(
    target: Annotated[str, typer.Argument(help="Raw table to forget: raw.<system>__<entity>")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (no question asked)")] = False,
) -> None:
    """Drop a raw table with its batches, quarantine rows and watermark, to reload it."""
    from ingest.audit import reset_target

    settings = _settings()
    if not yes:
        typer.confirm(f"Drop {target} and its load history?", abort=True)
    done = reset_target(settings.warehouse_url, target)
    typer.echo(
        f"{target}: dropped; {done['batches']} batches, {done['quarantined_rows']} quarantined "
        f"rows and {done['watermarks']} watermark(s) forgotten"
    )
