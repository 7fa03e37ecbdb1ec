"""The demo bank behaves like a bank, byte for byte the same per seed, and advances by day."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fresh_database

from sources.demo_bank.bank import advance, bank_date, ensure_published, generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.people import check_ids
from warehouse.db import connect

CFG = DemoBankConfig(customers=1500, months=12, seed=7)
LAST_DAY = CFG.end - timedelta(days=1)
AS_OF = LAST_DAY - timedelta(days=2)
CORE_TABLES = ("customers", "accounts", "transactions", "balances", "loan_status")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "state.json"
    }


def _table_digests(url: str) -> dict[str, str]:
    with connect(url) as conn:
        return {
            table: conn.execute(
                f"select md5(string_agg(t::text, '|' order by t::text)) from core.{table} t"
            ).fetchone()[0]
            for table in CORE_TABLES
        }


@pytest.fixture(scope="module")
def bank(settings, tmp_path_factory):
    url = fresh_database(settings, "scratch_demo_bank")
    layout = Layout(tmp_path_factory.mktemp("bank-a"))
    counts = generate(CFG, layout, url, as_of=AS_OF)
    return layout, url, counts


def _frame(url: str, query: str) -> pd.DataFrame:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_same_seed_gives_byte_identical_extracts(bank, settings, tmp_path) -> None:
    layout, url, _ = bank
    other_url = fresh_database(settings, "scratch_demo_bank_twin")
    twin = Layout(tmp_path / "bank-b")
    generate(CFG, twin, other_url, as_of=AS_OF)
    assert _tree_digest(layout.data_dir) == _tree_digest(twin.data_dir)
    assert _table_digests(url) == _table_digests(other_url)
    different = Layout(tmp_path / "bank-c")
    generate(DemoBankConfig(customers=1500, months=12, seed=8), different, other_url, AS_OF)
    assert _tree_digest(different.world) != _tree_digest(layout.world)


def test_value_is_concentrated(bank) -> None:
    _, url, _ = bank
    deposits = _frame(
        url,
        """
        select a.customer_id, sum(b.end_balance)::float8 as deposits
        from core.balances b join core.accounts a using (account_id)
        where a.account_type <> 'loan'
          and b.balance_month = (select max(balance_month) from core.balances)
        group by a.customer_id""",
    )["deposits"].sort_values(ascending=False)
    top = deposits.head(len(deposits) // 5).sum() / deposits.sum()
    assert top >= 0.60, f"top 20% of customers hold {top:.0%} of deposits"


def test_monthly_churn_is_within_the_configured_band(bank) -> None:
    _, url, _ = bank
    customers = _frame(url, "select customer_id, joined_on, closed_on from core.customers")
    rates = []
    for offset in range(1, CFG.months - 1):
        first = pd.Timestamp(CFG.start) + pd.DateOffset(months=offset)
        nxt = first + pd.DateOffset(months=1)
        joined = pd.to_datetime(customers["joined_on"])
        closed = pd.to_datetime(customers["closed_on"])
        active = (joined < first) & (closed.isna() | (closed >= first))
        left = active & (closed >= first) & (closed < nxt)
        rates.append(left.sum() / active.sum())
    mean = sum(rates) / len(rates)
    assert CFG.churn_hazard * 0.4 <= mean <= CFG.churn_hazard * 2.5, rates
    assert max(rates) < CFG.churn_hazard * 5


def _holders(url: str, layout: Layout) -> dict[str, set[int]]:
    accounts = _frame(url, "select customer_id, product_code from core.accounts")
    holders = {code: set(group["customer_id"]) for code, group in accounts.groupby("product_code")}
    cards = pd.concat(
        pd.read_csv(p, encoding="gbk") for p in sorted(layout.drop("cards").glob("*/cards_*.csv"))
    )
    holders["CREDIT_CARD"] = set(cards.loc[cards["card_type"] == "credit", "customer_id"])
    wealth = pd.concat(
        pd.read_csv(p) for p in sorted(layout.drop("wealth").glob("*/wealth_holdings.csv"))
    )
    holders["WEALTH"] = set(wealth["customer_id"])
    policies = pd.concat(
        pd.read_csv(p) for p in sorted(layout.drop("wealth").glob("*/insurance_policies.csv"))
    )
    holders["INS_LIFE"] = set(policies.loc[policies["product_code"] == "INS_LIFE", "customer_id"])
    holders["TD"] = (
        holders.get("TD3M", set()) | holders.get("TD12M", set()) | holders.get("TD36M", set())
    )
    return holders


@pytest.mark.parametrize(
    ("a", "b"), [("CONSUMER", "CREDIT_CARD"), ("TD", "WEALTH"), ("MORTGAGE", "INS_LIFE")]
)
def test_products_meant_together_are_held_together(bank, a, b) -> None:
    layout, url, _ = bank
    holders = _holders(url, layout)
    everyone = len(holders["CURRENT"])
    both = len(holders[a] & holders[b])
    lift = (both / everyone) / ((len(holders[a]) / everyone) * (len(holders[b]) / everyone))
    assert lift > 1.0, f"lift({a}, {b}) = {lift:.2f}"


def test_injected_anomalies_are_in_the_transactions(bank) -> None:
    layout, url, _ = bank
    planned = pd.read_parquet(layout.truth / "anomalies.parquet")
    planned = planned[pd.to_datetime(planned["day"]) <= pd.Timestamp(AS_OF)]
    assert len(planned) >= 1
    txns = _frame(
        url,
        "select account_id, txn_ts::date as day, txn_type, amount::float8, cross_border"
        " from core.transactions",
    )
    for item in planned.itertuples():
        same_day = txns[
            (txns["account_id"] == item.account_id)
            & (pd.to_datetime(txns["day"]) == pd.Timestamp(item.day))
        ]
        if item.kind == "cash":
            total = same_day.loc[same_day["txn_type"] == "cash_withdrawal", "amount"].sum()
            assert total >= 50_000, item
        elif item.kind == "transfer":
            assert same_day.loc[same_day["txn_type"] == "transfer_out", "amount"].max() >= 500_000
        else:
            assert same_day.loc[same_day["cross_border"], "amount"].sum() >= 200_000, item


def test_personal_data_is_valid_and_truth_is_kept_apart(bank) -> None:
    layout, url, _ = bank
    people = _frame(url, "select customer_type, national_id, mobile from core.customers")
    individuals = people[people["customer_type"] == "individual"]
    assert check_ids(individuals["national_id"].to_numpy())
    assert individuals["mobile"].str.fullmatch(r"1\d{10}").all()
    assert (people.loc[people["customer_type"] == "corporate", "national_id"].str.len() == 18).all()
    with connect(url) as conn:
        leaked = conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'core'"
            " and column_name in ('latent_stage', 'churn_month', 'engagement', 'wealth')"
        ).fetchone()[0]
    assert leaked == 0
    assert (layout.truth / "customer_months.parquet").exists()


def test_gbk_files_decode_only_as_gbk(bank) -> None:
    layout, _, _ = bank
    checked = 0
    for path in sorted(layout.drop("cards").glob("*/cards_*.csv"))[:40]:
        raw = path.read_bytes()
        text = raw.decode("gbk")
        if any(ord(ch) > 127 for ch in text):
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            checked += 1
    assert checked > 0


def test_every_day_folder_is_closed_by_a_done_marker(bank) -> None:
    layout, _, _ = bank
    for system in ("cards", "service", "wealth"):
        folders = sorted(p for p in layout.drop(system).iterdir() if p.is_dir())
        assert folders[0].name == CFG.start.isoformat()
        assert folders[-1].name == AS_OF.isoformat()
        assert all((f / "_DONE").exists() for f in folders)


def test_advancing_a_day_changes_only_that_days_rows(bank) -> None:
    layout, url, _ = bank
    day = AS_OF + timedelta(days=1)
    before = {t: _frame(url, f"select * from core.{t}") for t in CORE_TABLES}
    counts = advance(layout, url, day)
    after = {t: _frame(url, f"select * from core.{t}") for t in CORE_TABLES}
    assert bank_date(layout) == day
    assert counts["transactions"] > 0
    for table in CORE_TABLES:
        stamp = "txn_ts" if table == "transactions" else "updated_at"
        merged = after[table].merge(before[table], how="left", indicator=True)
        changed = merged[merged["_merge"] == "left_only"]
        assert (pd.to_datetime(changed[stamp], utc=True).dt.date == day).all(), table
        assert len(after[table]) >= len(before[table])
    assert (layout.drop("cards") / day.isoformat() / "_DONE").exists()
    assert not (layout.drop("cards") / (day + timedelta(days=1)).isoformat()).exists()
    with pytest.raises(ValueError, match="already at"):
        advance(layout, url, day)


def test_ensure_published_reuses_advances_or_regenerates(settings, tmp_path) -> None:
    url = fresh_database(settings, "scratch_demo_bank_ensure")
    layout = Layout(tmp_path)
    day = date(2025, 3, 10)
    assert ensure_published(layout, url, day, customers=60, months=2)
    assert bank_date(layout) == day
    assert ensure_published(layout, url, day, customers=60, months=2) == {}
    assert ensure_published(layout, url, day + timedelta(days=2), customers=60, months=2)
    assert bank_date(layout) == day + timedelta(days=2)
    ensure_published(layout, url, date(2025, 9, 1), customers=60, months=2)
    assert bank_date(layout) == date(2025, 9, 1)


def test_defects_on_demand_are_injected_and_listed_per_published_day(settings, tmp_path) -> None:
    from sources.demo_bank.defects import read_manifest

    url = fresh_database(settings, "scratch_demo_bank_defects")
    layout = Layout(tmp_path)
    cfg = DemoBankConfig(customers=120, months=1, seed=4, defect_rate=0.3)
    last = cfg.end - timedelta(days=1)
    counts = generate(cfg, layout, url, as_of=last - timedelta(days=1))
    manifest = read_manifest(layout)
    assert counts["defects"] == len(manifest) > 0
    assert {entry["day"] for entry in manifest} <= {
        (cfg.start + timedelta(days=i)).isoformat() for i in range(31)
    }
    more = advance(layout, url, last)
    after = read_manifest(layout)
    assert len(after) == len(manifest) + more["defects"]
    assert {e["day"] for e in after[len(manifest) :]} <= {last.isoformat()}
    clean = Layout(tmp_path / "clean")
    generate(
        DemoBankConfig(customers=120, months=1, seed=4),
        clean,
        fresh_database(settings, "scratch_demo_bank_clean"),
    )
    assert read_manifest(clean) == []


def test_loans_fall_behind_and_complaints_precede_churn(bank) -> None:
    layout, url, _ = bank
    classes = _frame(
        url, "select five_tier_class, count(*) as n from core.loan_status group by 1"
    ).set_index("five_tier_class")["n"]
    assert classes.get("pass", 0) > 0
    assert classes.drop("pass", errors="ignore").sum() > 0, "no loan ever fell behind"
    complaints = pd.concat(
        pd.read_json(p, lines=True)
        for p in sorted(layout.drop("service").glob("*/complaints.jsonl"))
        if p.stat().st_size
    )
    customers = _frame(url, "select customer_id, closed_on from core.customers")
    closed = pd.to_datetime(customers.set_index("customer_id")["closed_on"])
    opened = pd.to_datetime(complaints["opened_at"], utc=True).dt.tz_localize(None)
    closes = closed.reindex(complaints["customer_id"]).to_numpy()
    before_leaving = (opened.to_numpy() >= closes - np.timedelta64(90, "D")) & (
        opened.to_numpy() < closes
    )
    leavers = closed.notna()
    stayers = int((~leavers).sum())
    # Complaints per customer-month: in the three months before leaving, and for stayers.
    leaver_rate = before_leaving.sum() / (3 * leavers.sum())
    stayer_rate = complaints["customer_id"].isin(closed.index[~leavers]).sum() / (
        stayers * CFG.months
    )
    assert leavers.sum() > 20 and leaver_rate > 3 * stayer_rate, (leaver_rate, stayer_rate)


def test_policies_start_after_their_customer_joined(bank) -> None:
    """A policy delivered before its customer exists in core banking would be quarantined
    as an orphan by the loader: the bank sells insurance to its customers only."""
    layout, _, _ = bank
    policies = pd.concat(
        pd.read_csv(path, usecols=["customer_id", "start_date"])
        for path in layout.drop("wealth").glob("*/insurance_policies.csv")
    )
    joined = pd.read_parquet(layout.truth / "customers.parquet").set_index("customer_id")
    start = pd.to_datetime(policies["start_date"])
    start_index = (start.dt.year - CFG.start.year) * 12 + start.dt.month - CFG.start.month
    join_index = joined.loc[policies["customer_id"], "join_month"].to_numpy()
    assert len(policies) > 100
    assert (start_index.to_numpy() > join_index).all()
