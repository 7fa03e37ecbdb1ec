"""Publish the world store to the demo bank's source systems, up to a bank date.

Core banking goes into its Postgres database (new rows appended, changed rows updated in
place with their new ``updated_at``); card, service and wealth systems get one folder of
files per business day closed by a ``_DONE`` marker; reference data is a full extract.
The CRM API serves the world store directly, filtered by the bank date in state.json.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ingest.config import load_contract
from sources import core_db, reference
from sources.demo_bank import people
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.defects import clear_defects, inject_defects
from warehouse.db import connect
from warehouse.log import Progress, get_logger

log = get_logger("sources.demo_bank.publish")

# The column that decides when a row reaches its source system.
TIME_COLUMN = {
    "transactions": "txn_ts",
    "card_transactions": "txn_ts",
    "annual_fees": "fee_date",
    "surveys": "surveyed_at",
    "wealth_holdings": "as_of_date",
    "wealth_subscriptions": "trade_date",
}
CORE_APPEND = ("transactions",)
CORE_UPSERT = ("customers", "accounts", "balances", "loan_status")
FILE_SYSTEMS = ("cards", "service", "wealth")
DONE = "_DONE"


def _bound(day: date, column_is_date: bool) -> object:
    return day if column_is_date else pd.Timestamp(day, tz="UTC")


def iter_world(
    layout: Layout, system: str, entity: str, lo: date | None, hi: date
) -> Iterator[pd.DataFrame]:
    """Rows of one world entity whose time falls in [lo, hi), one file at a time."""
    for table in iter_world_tables(layout, system, entity, lo, hi):
        yield table.to_pandas()


def iter_world_tables(
    layout: Layout, system: str, entity: str, lo: date | None, hi: date
) -> Iterator[pa.Table]:
    """As iter_world, as Arrow tables (no pandas round trip for the big entities)."""
    folder = layout.world / system / entity
    column = TIME_COLUMN.get(entity, "updated_at")
    for path in sorted(folder.glob("*.parquet")):
        dataset = ds.dataset(path)
        is_date = str(dataset.schema.field(column).type).startswith("date")
        condition = ds.field(column) < _bound(hi, is_date)
        if lo is not None:
            condition &= ds.field(column) >= _bound(lo, is_date)
        table = dataset.to_table(filter=condition)
        if table.num_rows:
            yield _decoded(table)


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns (the generator's compact strings) as plain strings."""
    columns = [
        pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def _latest(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame.sort_values("updated_at", kind="stable").drop_duplicates(key, keep="last")


def publish_core(layout: Layout, core_url: str, lo: date | None, hi: date) -> dict[str, int]:
    """Core-banking rows of [lo, hi) into the database; the first publish creates it."""
    contract = core_db.core_contract()
    counts: dict[str, int] = {}
    with connect(core_url) as conn:
        if lo is None:
            core_db.create_schema(conn, replace=True)
        for entity in CORE_UPSERT:
            columns = contract[entity].column_names
            frames = list(iter_world(layout, "core_banking", entity, lo, hi))
            if not frames:
                counts[entity] = 0
                continue
            frame = _latest(
                pd.concat(frames, ignore_index=True), list(contract[entity].primary_key)
            )[columns]
            write = core_db.copy_frame if lo is None else core_db.upsert_frame
            counts[entity] = write(conn, entity, frame)
        progress = Progress(log, "publish core.transactions")
        counts["transactions"] = 0
        columns = contract["transactions"].column_names
        for table in iter_world_tables(layout, "core_banking", "transactions", lo, hi):
            for batch in table.select(columns).to_batches(max_chunksize=250_000):
                counts["transactions"] += core_db.copy_frame(
                    conn, "transactions", pa.Table.from_batches([batch])
                )
                progress.add(batch.num_rows)
        progress.done()
    return counts


def _write_file(frame: pd.DataFrame, path: Path, options: dict[str, object]) -> None:
    kind = options["format"]
    if kind == "parquet":
        pq.write_table(_arrow(frame), path, compression="zstd")
    elif kind == "jsonl":
        text = (
            frame.to_json(
                orient="records", lines=True, force_ascii=False, date_format="iso", date_unit="s"
            )
            if len(frame)
            else ""
        )
        path.write_text(text, encoding=str(options.get("encoding", "utf-8")))
    else:
        frame.to_csv(
            path,
            index=False,
            encoding=str(options.get("encoding", "utf-8")),
            lineterminator="\n",
            date_format="%Y-%m-%d %H:%M:%S%z",
        )


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _day_of(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.date
    return pd.to_datetime(values).dt.date


def publish_files(layout: Layout, cfg: DemoBankConfig, lo: date | None, hi: date) -> dict[str, int]:
    """One folder per day in [lo or start, hi) for each file-based system."""
    first_day = lo or cfg.start
    days = [first_day + timedelta(days=i) for i in range((hi - first_day).days)]
    counts: dict[str, int] = {}
    for system in FILE_SYSTEMS:
        contract = load_contract(system)
        root = layout.drop(system)
        if lo is None and root.exists():
            shutil.rmtree(root)
        for day in days:
            folder = root / day.isoformat()
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
        for entity, spec in contract.items():
            columns = spec.column_names
            column = TIME_COLUMN.get(entity, "updated_at")
            counts[entity] = 0
            written: set[date] = set()
            for frame in iter_world(layout, system, entity, lo, hi):
                day_of = _day_of(frame, column)
                # Rows from before the simulation arrive in its first day's delivery.
                day_of = day_of.where(day_of >= first_day, first_day)
                for day, part in frame.groupby(day_of, sort=True):
                    if column == "updated_at":
                        # A day's delivery holds each record once, as it stood at the end of
                        # the day (a card issued and cancelled that day arrives cancelled).
                        part = _latest(part, list(spec.primary_key))
                    name = str(spec.options["file"]).format(yyyymmdd=f"{day:%Y%m%d}")
                    _write_file(part[columns], root / day.isoformat() / name, spec.options)
                    written.add(day)
                    counts[entity] += len(part)
            if entity == "wealth_holdings":
                continue  # a month-end snapshot: only month-end folders carry it
            empty = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
            for day in days:
                if day not in written:
                    name = str(spec.options["file"]).format(yyyymmdd=f"{day:%Y%m%d}")
                    _write_file(empty, root / day.isoformat() / name, spec.options)
        for day in days:
            (root / day.isoformat() / DONE).write_text(f"{system} {day.isoformat()}\n")
    return counts


def publish_reference(layout: Layout, cfg: DemoBankConfig) -> dict[str, int]:
    frames = {
        "products": reference.products_frame(),
        "ftp_curve": reference.ftp_curve_frame(cfg.start, cfg.months),
        "unit_costs": reference.unit_costs_frame(),
        "pd_lgd": reference.pd_lgd_frame(),
        "branches": people.branches_frame(),
    }
    root = layout.drop("reference")
    root.mkdir(parents=True, exist_ok=True)
    contract = load_contract("reference")
    for name, frame in frames.items():
        frame[contract[name].column_names].to_csv(
            root / f"{name}.csv", index=False, encoding="utf-8", lineterminator="\n"
        )
    return {name: len(frame) for name, frame in frames.items()}


def publish(layout: Layout, cfg: DemoBankConfig, core_url: str, until: date) -> dict[str, int]:
    """Publish everything up to and including ``until`` that is not published yet."""
    state = layout.read_state()
    published = state.get("bank_date")
    lo = date.fromisoformat(published) + timedelta(days=1) if published else None
    if until >= cfg.end:
        last = cfg.end - timedelta(days=1)
        raise ValueError(f"{until} is past the simulated period (last day {last})")
    if lo is not None and until < lo:
        raise ValueError(f"the bank is already at {published}; advance to a later date")
    hi = until + timedelta(days=1)
    started = datetime.now()
    counts = publish_core(layout, core_url, lo, hi)
    counts.update(publish_files(layout, cfg, lo, hi))
    if lo is None:
        counts.update({f"reference.{k}": v for k, v in publish_reference(layout, cfg).items()})
    state["bank_date"] = until.isoformat()
    layout.write_state(state)
    if lo is None:
        clear_defects(layout)  # a fresh history: an older manifest no longer applies
    if cfg.defect_rate:
        first = lo or cfg.start
        days = [first + timedelta(days=i) for i in range((until - first).days + 1)]
        injected = inject_defects(layout, core_url, days, cfg.defect_rate, cfg.seed)
        counts["defects"] = len(injected)
    log.info(
        "published %s .. %s in %.1f s",
        lo or cfg.start,
        until,
        (datetime.now() - started).total_seconds(),
    )
    return counts
