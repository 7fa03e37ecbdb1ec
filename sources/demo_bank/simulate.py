"""Simulate the demo bank month by month into the world store (Parquet).

Memory stays bounded: only one month of transactions exists at a time; each month is
written to ``world/<system>/<entity>/<YYYY-MM>.parquet`` and dropped. Records that change
over time (customers, accounts, cards, complaints, policies, CRM assignments) are kept
as versions, one row per change with its ``updated_at``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sources.demo_bank import holdings
from sources.demo_bank.config import DemoBankConfig, Layout, month_start
from sources.demo_bank.monthly import MonthState, ts, utc
from sources.demo_bank.population import Population, draw_population
from warehouse.log import get_logger

log = get_logger("sources.demo_bank")


@dataclass
class World:
    """What one simulation produced, for publishing and for tests."""

    layout: Layout
    cfg: DemoBankConfig
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    transaction_seconds: float = 0.0  # of which generating and writing transactions


class Writer:
    """Writes world-store files and counts rows per entity."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.counts: dict[str, int] = {}

    def write(self, system: str, entity: str, part: str, frame: pd.DataFrame | pa.Table) -> None:
        folder = self.layout.world / system / entity
        folder.mkdir(parents=True, exist_ok=True)
        table = (
            frame
            if isinstance(frame, pa.Table)
            else pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        )
        # Write then rename, so a reader (the CRM API) never sees half a file.
        temporary = folder / f".{part}.parquet.tmp"
        # Dictionary pages only where the generator built dictionaries (codes like channel);
        # high-cardinality text (account numbers, names) is cheaper written plain.
        dictionaries = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
        pq.write_table(
            table,
            temporary,
            compression="zstd",
            compression_level=1,
            row_group_size=256_000,
            use_dictionary=dictionaries,
        )
        temporary.replace(folder / f"{part}.parquet")
        self.counts[entity] = self.counts.get(entity, 0) + len(table)


def simulate(cfg: DemoBankConfig, layout: Layout) -> World:
    """Draw the population and products, then walk the months; deterministic by seed."""
    started = time.monotonic()
    if layout.world.exists():
        shutil.rmtree(layout.world)
    if layout.truth.exists():
        shutil.rmtree(layout.truth)
    layout.truth.mkdir(parents=True)
    rng = np.random.default_rng(cfg.seed)
    pop = draw_population(cfg, rng)
    accounts = holdings.draw_accounts(cfg, pop, rng)
    cards = holdings.draw_cards(pop, accounts, rng)
    wealth_holders, policies = holdings.draw_wealth_and_insurance(pop, accounts, rng)
    writer = Writer(layout)
    _write_customer_versions(cfg, pop, rng, writer)
    _write_account_versions(cfg, accounts, writer)
    _write_card_versions(cfg, cards, writer)
    anomalies = _plan_anomalies(cfg, pop, accounts, rng)

    sim = MonthState(cfg, pop, accounts, cards, wealth_holders, policies, anomalies, rng)
    truth_rows = []
    for month in range(cfg.months):
        tick = time.monotonic()
        produced = sim.run_month(month, writer)
        truth_rows.append(sim.truth(month))
        log.info(
            "month %s: %s transactions (%s rows/s)",
            month_start(cfg.start, month),
            f"{produced:,}",
            f"{produced / max(time.monotonic() - tick, 1e-9):,.0f}",
        )
    sim.finish(writer)
    pd.concat(truth_rows, ignore_index=True).to_parquet(
        layout.truth / "customer_months.parquet", index=False
    )
    truth_customers = pop.frame[
        [
            "customer_id",
            "customer_type",
            "join_month",
            "decline_month",
            "dormant_month",
            "churn_month",
            "key_trend",
            "wealth",
        ]
    ]
    truth_customers.to_parquet(layout.truth / "customers.parquet", index=False)
    anomalies.to_parquet(layout.truth / "anomalies.parquet", index=False)
    return World(layout, cfg, writer.counts, time.monotonic() - started, sim.txn_seconds)


# --- versions of slowly changing records ------------------------------------------------


def _write_customer_versions(
    cfg: DemoBankConfig, pop: Population, rng: np.random.Generator, writer: Writer
) -> None:
    f = pop.frame
    first = np.datetime64(cfg.start, "D")
    joined = f["joined_on"].to_numpy().astype("datetime64[D]")
    base = f[
        [
            "customer_id",
            "customer_type",
            "full_name",
            "national_id",
            "mobile",
            "gender",
            "birth_date",
            "city",
            "address",
            "occupation",
            "branch_code",
            "joined_on",
        ]
    ].copy()
    base["status"] = "active"
    base["closed_on"] = None
    seconds = rng.integers(9 * 3600, 17 * 3600, pop.n)
    base["updated_at"] = utc(ts(joined, seconds))
    versions = [base]
    for column, status in (("dormant_month", "dormant"), ("churn_month", "closed")):
        month = f[column].to_numpy()
        idx = np.flatnonzero((month < cfg.months) & (month >= 0))
        if not len(idx):
            continue
        day = np.array([np.datetime64(month_start(cfg.start, int(m)), "D") for m in month[idx]])
        day = day + rng.integers(0, 27, len(idx)).astype("timedelta64[D]")
        changed = base.iloc[idx].copy()
        changed["status"] = status
        if status == "closed":
            changed["closed_on"] = day.astype(object)
        changed["updated_at"] = utc(ts(day, rng.integers(9 * 3600, 17 * 3600, len(idx))))
        versions.append(changed)
    # Some customers change their mobile number during the period.
    movers = np.flatnonzero(rng.random(pop.n) < 0.03 * cfg.months / 12)
    if len(movers):
        day = first + rng.integers(
            0, (np.datetime64(cfg.end, "D") - first).astype(int), len(movers)
        ).astype("timedelta64[D]")
        ok = day > joined[movers]
        changed = base.iloc[movers[ok]].copy()
        from sources.demo_bank.people import mobiles

        changed["mobile"] = mobiles(rng, int(ok.sum()))
        changed["updated_at"] = utc(ts(day[ok], rng.integers(9 * 3600, 17 * 3600, int(ok.sum()))))
        versions.append(changed)
    frame = pd.concat(versions, ignore_index=True)
    # Later versions of a customer carry earlier changes forward (a mobile change made
    # before closing survives the closing version).
    frame = frame.sort_values(["customer_id", "updated_at"], kind="stable", ignore_index=True)
    status_rank = frame["status"].map({"active": 0, "dormant": 1, "closed": 2})
    frame["status"] = (
        frame.assign(r=status_rank)
        .groupby("customer_id")["r"]
        .cummax()
        .map({0: "active", 1: "dormant", 2: "closed"})
    )
    frame["closed_on"] = frame.groupby("customer_id")["closed_on"].ffill()
    writer.write(
        "core_banking", "customers", "versions", frame.sort_values("updated_at", kind="stable")
    )


def _close_day(cfg: DemoBankConfig, close_month: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The day an account closes within its close month (stable per account)."""
    out = np.full(len(close_month), np.datetime64("NaT"), dtype="datetime64[D]")
    inside = close_month < cfg.months
    for m in np.unique(close_month[inside]):
        sel = inside & (close_month == m)
        out[sel] = np.datetime64(month_start(cfg.start, int(m)), "D") + (key[sel] % 27).astype(
            "timedelta64[D]"
        )
    return out


def _write_account_versions(cfg: DemoBankConfig, accounts: pd.DataFrame, writer: Writer) -> None:
    accounts["closed_on"] = _close_day(
        cfg, accounts["close_month"].to_numpy(), accounts["account_id"].to_numpy()
    )
    opened = accounts["opened_on"].to_numpy().astype("datetime64[D]")
    accounts["closed_on"] = np.where(
        accounts["closed_on"].to_numpy() < opened, opened, accounts["closed_on"].to_numpy()
    )
    columns = [
        "account_id",
        "customer_id",
        "product_code",
        "account_type",
        "currency",
        "branch_code",
        "opened_on",
        "term_months",
        "maturity_on",
        "interest_rate",
        "principal",
    ]
    first = accounts[columns].copy()
    first["status"] = "open"
    first["closed_on"] = pd.NaT
    first["updated_at"] = utc(ts(opened, 9 * 3600 + accounts["account_id"].to_numpy() % 28800))
    closed = accounts[accounts["close_month"] < cfg.months]
    later = closed[columns].copy()
    later["status"] = "closed"
    later["closed_on"] = closed["closed_on"].to_numpy()
    later["updated_at"] = utc(ts(closed["closed_on"].to_numpy(), np.full(len(closed), 17 * 3600)))
    frame = pd.concat([first, later], ignore_index=True)
    for column in ("opened_on", "maturity_on", "closed_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    frame["term_months"] = frame["term_months"].astype("Int64")
    writer.write(
        "core_banking", "accounts", "versions", frame.sort_values("updated_at", kind="stable")
    )


def _write_card_versions(cfg: DemoBankConfig, cards: pd.DataFrame, writer: Writer) -> None:
    cards["closed_on"] = _close_day(
        cfg, cards["close_month"].to_numpy(), cards["account_id"].to_numpy()
    )
    columns = [
        "card_id",
        "customer_id",
        "account_id",
        "card_type",
        "card_level",
        "cardholder_name",
        "issued_on",
        "expires_on",
        "credit_limit",
    ]
    issued = cards["issued_on"].to_numpy().astype("datetime64[D]")
    first = cards[columns].copy()
    first["status"] = "active"
    first["updated_at"] = utc(ts(issued, np.full(len(cards), 10 * 3600)))
    gone = cards[(cards["close_month"] < cfg.months)]
    gone_day = np.maximum(gone["closed_on"].to_numpy(), gone["issued_on"].to_numpy())
    later = gone[columns].copy()
    later["status"] = "cancelled"
    later["updated_at"] = utc(ts(gone_day.astype("datetime64[D]"), np.full(len(gone), 18 * 3600)))
    frame = pd.concat([first, later], ignore_index=True)
    for column in ("issued_on", "expires_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    writer.write("cards", "cards", "versions", frame.sort_values("updated_at", kind="stable"))


def _plan_anomalies(
    cfg: DemoBankConfig, pop: Population, accounts: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Accounts with one suspicious burst each: large cash, transfer or cross-border."""
    current = accounts[accounts["product_code"] == "CURRENT"]
    eligible = current[(current["close_month"] > current["open_month"] + 1)]
    count = max(1, round(len(pop.frame) * cfg.anomaly_accounts_per_10k / 10_000))
    picked = eligible.sample(n=min(count, len(eligible)), random_state=int(rng.integers(1 << 31)))
    month = np.maximum(picked["open_month"].to_numpy(), 0) + rng.integers(
        0, cfg.months, len(picked)
    )
    month = np.minimum(month, np.minimum(picked["close_month"].to_numpy() - 1, cfg.months - 1))
    month = np.maximum(month, 0)
    kind = np.array(["cash", "transfer", "cross_border"])[rng.integers(3, size=len(picked))]
    day = np.array([np.datetime64(month_start(cfg.start, int(m)), "D") for m in month])
    day = day + rng.integers(3, 25, len(picked)).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "account_id": picked["account_id"].to_numpy(),
            "customer_id": picked["customer_id"].to_numpy(),
            "month": month,
            "day": day,
            "kind": kind,
        }
    ).sort_values("account_id", ignore_index=True)
