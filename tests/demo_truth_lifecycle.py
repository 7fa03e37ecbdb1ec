"""Lifecycle marts against the demo bank's hidden truth.

The generator gives every customer a latent stage per month (truth
``customer_months.latent_stage``) and a churn month (truth ``customers.churn_month``,
an index from the simulation's first month; 10,000 = never). These functions measure
how well ``marts.mart_customer_lifecycle_monthly`` recovers them, and assert the rules
found what the generator put there. The lead calls them from tests/test_pipeline_e2e.py
after its pipeline run: plain functions, no pytest fixtures.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

STAGES = ("prospect", "new", "growth", "mature", "decline", "dormant", "churned")
# Stages whose rules the demo can exercise often enough to assert on (per-stage accuracy
# of the rest is reported, not asserted: decline and dormancy last a few months at most
# before a churn, and the demo bank has a handful of them).
ASSERTED_STAGES = ("new", "mature", "churned")

_MART_SQL = """
    select customer_id, month_start, lifecycle_stage, is_churned_in_month
    from marts.mart_customer_lifecycle_monthly
"""


def _simulation_start(truth_dir: Path, truth_months: pd.DataFrame) -> date:
    """First month of the simulation: month index 0 of the truth files."""
    state = truth_dir.parent / "state.json"
    if state.exists():
        start = json.loads(state.read_text())["config"]["start"]
        return date.fromisoformat(start).replace(day=1)
    months = pd.to_datetime(truth_months["month"])
    return months.min().date().replace(day=1)


def _to_month_start(values: pd.Series, start: date) -> pd.Series:
    """Month column of the truth as first days: dates stay, indexes count from ``start``."""
    if pd.api.types.is_integer_dtype(values):
        base = pd.Timestamp(start)
        return pd.Series(
            [base + pd.DateOffset(months=int(v)) for v in values], index=values.index
        ).dt.normalize()
    return pd.to_datetime(values).dt.normalize()


def _ratio(numerator: float, denominator: float) -> float:
    """A share, NaN when there is nothing to share (so a missing figure is visible)."""
    return float(numerator) / float(denominator) if denominator else float("nan")


def measure_lifecycle(warehouse_url: str, truth_dir: Path) -> dict[str, float]:
    """Agreement of the mart's stages and churn flags with the generator's truth.

    Compared on the customer-months both have: the mart has no row for a customer
    before the bank knows it (the truth calls it a prospect), and the truth covers
    months the warehouse has not closed yet. Figures: ``months``, ``customer_months``,
    ``stage_accuracy`` (overall), ``stage_accuracy_<stage>`` (recall of each truth
    stage), ``stage_precision_<stage>``, and for churn at customer level (churned by
    the last compared month): ``churned_truth``, ``churned_found``, ``churn_recall``,
    ``churn_precision``, ``churn_month_exact`` (share of found churners whose
    is_churned_in_month falls in the truth's churn month).
    """
    truth_dir = Path(truth_dir)
    truth_months = pd.read_parquet(truth_dir / "customer_months.parquet")
    truth_customers = pd.read_parquet(truth_dir / "customers.parquet")
    start = _simulation_start(truth_dir, truth_months)

    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as connection:
            mart = pd.read_sql(sa.text(_MART_SQL), connection)
    finally:
        engine.dispose()

    truth = truth_months.assign(month_start=_to_month_start(truth_months["month"], start))
    mart = mart.assign(month_start=pd.to_datetime(mart["month_start"]).dt.normalize())
    both = mart.merge(
        truth[["customer_id", "month_start", "latent_stage"]],
        on=["customer_id", "month_start"],
        how="inner",
    )
    figures: dict[str, float] = {
        "months": float(both["month_start"].nunique()),
        "customer_months": float(len(both)),
    }
    agree = both["lifecycle_stage"] == both["latent_stage"]
    figures["stage_accuracy"] = _ratio(agree.sum(), len(both))
    for stage in STAGES:
        in_truth = both["latent_stage"] == stage
        in_mart = both["lifecycle_stage"] == stage
        figures[f"truth_{stage}"] = float(in_truth.sum())
        figures[f"stage_accuracy_{stage}"] = _ratio((in_truth & agree).sum(), in_truth.sum())
        figures[f"stage_precision_{stage}"] = _ratio((in_mart & agree).sum(), in_mart.sum())

    # Churn per customer, over the customers and months compared.
    last_month = both["month_start"].max()
    compared = pd.Index(both["customer_id"].unique())
    churn_start = truth_customers.set_index("customer_id")["churn_month"]
    churn_start = churn_start[churn_start < 10_000]
    truth_churn = pd.Series(
        _to_month_start(churn_start.astype("int64"), start).to_numpy(), index=churn_start.index
    )
    truth_churn = truth_churn[(truth_churn <= last_month) & truth_churn.index.isin(compared)]
    at_last = both[both["month_start"] == last_month].set_index("customer_id")
    found = set(at_last.index[at_last["lifecycle_stage"] == "churned"])
    truth_set = set(truth_churn.index)
    hits = found & truth_set
    figures["churned_truth"] = float(len(truth_set))
    figures["churned_found"] = float(len(found))
    figures["churn_recall"] = _ratio(len(hits), len(truth_set))
    figures["churn_precision"] = _ratio(len(hits), len(found))
    flagged = both[both["is_churned_in_month"]].groupby("customer_id")["month_start"].max()
    on_time = [c for c in hits if c in flagged.index and flagged[c] == truth_churn[c]]
    figures["churn_month_exact"] = _ratio(len(on_time), len(hits))
    return figures


def assert_lifecycle_found(figures: dict) -> None:
    """The rules find what the generator put there, robustly on the 300-customer demo.

    Churn is structural in the generator (every account of a leaver closes in its churn
    month), so the mart must find nearly all of it; age stages follow the first product,
    so they must mostly agree; decline and dormancy are behavioural and short in the
    demo, so only the overall accuracy bounds how often the mart may invent them.
    """
    assert figures["customer_months"] >= 200, figures
    assert figures["churned_truth"] >= 3, f"too few churners to judge: {figures}"
    assert figures["churn_recall"] >= 0.9, f"churned customers not marked churned: {figures}"
    assert figures["churn_precision"] >= 0.9, f"customers marked churned who stayed: {figures}"
    assert figures["churn_month_exact"] >= 0.8, f"churn flagged in the wrong month: {figures}"
    assert figures["stage_accuracy"] >= 0.7, f"stages disagree with the truth: {figures}"
    for stage in ASSERTED_STAGES:
        if figures[f"truth_{stage}"] >= 10:
            assert figures[f"stage_accuracy_{stage}"] >= 0.6, f"{stage} not found: {figures}"
    if figures["truth_mature"] >= 10:
        assert figures["stage_precision_mature"] >= 0.8, f"mature over-assigned: {figures}"
