"""The risk marts checked against the demo bank generator's hidden truth.

Plain functions, so the end-to-end pipeline test can call them on its own warehouse after
its run: ``measure_risk`` reads the marts, the raw loan status and the truth parquet files
(``<state>/data/demo_bank/truth``) and returns figures; ``assert_risk_found`` asserts what
is robust on a 300-customer demo bank yet fails if the marts were wrong:

- every customer-month with a loan behind (days past due > 0 in the source's loan status,
  as landed in ``raw``) is at least ``watch``, and at least the tier its days past due
  reach with the default thresholds (30 doubtful, 90 exit);
- customers the generator put in latent decline or dormancy are flagged (not ``normal``)
  at a clearly higher rate than mature ones;
- the anomaly alerts find every burst the generator injected (account and day, with the
  matching rule), far above the rate of a random pick of account-days.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg

# Default warning_dpd_* thresholds: the tier rank days past due reach.
DPD_TIERS = ((90, 3), (30, 2), (1, 1))
# Truth anomaly kind -> the rule that should catch it.
KIND_RULE = {"cash": "cash", "transfer": "transfer", "cross_border": "cross_border"}
ARREARS_MONTHS_TO_COMPARE = 5


def _frame(conn: psycopg.Connection, query: str) -> pd.DataFrame:
    cursor = conn.execute(query)
    names = [c.name for c in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names)


def _dpd_rank(days: int) -> int:
    """Tier rank that days past due reach with the default thresholds."""
    for bound, rank in DPD_TIERS:
        if days >= bound:
            return rank
    return 0


def _arrears_figures(conn: psycopg.Connection, tiers: pd.DataFrame) -> dict[str, float]:
    """Customer-months with a loan behind in the source, and how the mart graded them."""
    loans = _frame(
        conn,
        "select accounts.customer_id::bigint as customer_id,"
        " status.status_month::date as month_start,"
        " max(status.days_past_due::integer) as days_past_due"
        " from raw.core_banking__loan_status as status"
        " join (select distinct account_id::bigint as account_id,"
        "  customer_id::bigint as customer_id from raw.core_banking__accounts) as accounts"
        " on status.account_id::bigint = accounts.account_id"
        " where status.days_past_due::integer > 0"
        " group by 1, 2",
    )
    behind = loans.merge(tiers, on=["customer_id", "month_start"], how="inner")
    if behind.empty:
        return {"arrears_customer_months": 0.0}
    expected = behind["days_past_due"].map(_dpd_rank)
    severe = behind[behind["days_past_due"] >= 30]
    mild = behind[behind["days_past_due"] < 30]
    return {
        "arrears_customer_months": float(len(behind)),
        "arrears_flagged_share": float((behind["tier_rank"] >= 1).mean()),
        "arrears_tier_at_least_dpd_share": float((behind["tier_rank"] >= expected).mean()),
        "arrears_severe_customer_months": float(len(severe)),
        "arrears_mild_customer_months": float(len(mild)),
        "arrears_mean_tier_rank_dpd_30_plus": float(severe["tier_rank"].mean())
        if len(severe)
        else -1.0,
        "arrears_mean_tier_rank_dpd_below_30": float(mild["tier_rank"].mean())
        if len(mild)
        else -1.0,
    }


def _stage_figures(tiers: pd.DataFrame, truth_dir: Path) -> dict[str, float]:
    """Share of customer-months flagged, by the generator's latent stage."""
    stages = pd.read_parquet(truth_dir / "customer_months.parquet")
    stages["month_start"] = pd.to_datetime(stages["month"]).dt.date
    joined = tiers.merge(
        stages[["customer_id", "month_start", "latent_stage"]],
        on=["customer_id", "month_start"],
        how="inner",
    )
    flagged = joined["tier_rank"] > 0
    troubled = joined["latent_stage"].isin(["decline", "dormant"])
    mature = joined["latent_stage"] == "mature"
    return {
        "stage_customer_months": float(len(joined)),
        "troubled_customer_months": float(troubled.sum()),
        "mature_customer_months": float(mature.sum()),
        "troubled_flagged_rate": float(flagged[troubled].mean()) if troubled.any() else 0.0,
        "mature_flagged_rate": float(flagged[mature].mean()) if mature.any() else 0.0,
    }


def _anomaly_figures(conn: psycopg.Connection, truth_dir: Path) -> dict[str, float]:
    """Precision and recall of the rule alerts against the injected bursts (account, day)."""
    last_day = conn.execute("select max(txn_date) from marts.fct_transactions").fetchone()[0]
    account_days = conn.execute(
        "select count(*) from (select distinct account_id, txn_date"
        " from marts.fct_transactions) as days"
    ).fetchone()[0]
    alerts = _frame(
        conn,
        "select account_id, alert_date, rule from marts.fct_anomaly_alerts"
        " where alert_source = 'rule'",
    )
    planned = pd.read_parquet(truth_dir / "anomalies.parquet")
    planned["alert_date"] = pd.to_datetime(planned["day"]).dt.date
    if last_day is not None:
        planned = planned[planned["alert_date"] <= last_day]
    truth_days = set(zip(planned["account_id"], planned["alert_date"], strict=True))
    alert_days = set(zip(alerts["account_id"], alerts["alert_date"], strict=True))
    alert_rules = set(zip(alerts["account_id"], alerts["alert_date"], alerts["rule"], strict=True))
    hits = truth_days & alert_days
    kind_hits = sum(
        (item.account_id, item.alert_date, KIND_RULE[item.kind]) in alert_rules
        for item in planned.itertuples()
    )
    precision = len(hits) / len(alert_days) if alert_days else 0.0
    base_rate = len(truth_days) / account_days if account_days else 0.0
    return {
        "anomaly_truth_account_days": float(len(truth_days)),
        "anomaly_alert_account_days": float(len(alert_days)),
        "anomaly_recall": len(hits) / len(truth_days) if truth_days else 0.0,
        "anomaly_rule_recall": kind_hits / len(planned) if len(planned) else 0.0,
        "anomaly_precision": precision,
        "anomaly_precision_lift": precision / base_rate if base_rate else 0.0,
    }


def measure_risk(warehouse_url: str, truth_dir: Path) -> dict[str, float]:
    """Figures comparing the risk marts of a demo-bank warehouse with the generator's truth."""
    with psycopg.connect(warehouse_url) as conn:
        tiers = _frame(
            conn,
            "select customer_id, month_start, tier_rank from marts.mart_early_warning_monthly",
        )
        figures = {"customer_months": float(len(tiers))}
        figures |= _arrears_figures(conn, tiers)
        figures |= _stage_figures(tiers, Path(truth_dir))
        figures |= _anomaly_figures(conn, Path(truth_dir))
    return figures


def assert_risk_found(figures: dict) -> None:
    """Assert what the risk marts must find on the demo bank (see the module docstring)."""
    assert figures["customer_months"] > 0, figures
    # (a) loans behind raise their owner's tier, at least as far as days past due reach
    assert figures["arrears_customer_months"] >= 1, figures
    assert figures["arrears_flagged_share"] == 1.0, figures
    assert figures["arrears_tier_at_least_dpd_share"] == 1.0, figures
    # On average a month 30+ days behind ranks above a milder one; with a handful of months
    # another rule (complaints, a balance drop) can raise a mild one as far, so the means
    # are compared on enough months only (every month still meets its own floor above).
    if (
        figures["arrears_severe_customer_months"] >= ARREARS_MONTHS_TO_COMPARE
        and figures["arrears_mild_customer_months"] >= ARREARS_MONTHS_TO_COMPARE
    ):
        assert (
            figures["arrears_mean_tier_rank_dpd_30_plus"]
            > figures["arrears_mean_tier_rank_dpd_below_30"]
        ), figures
    # (b) latent decline and dormancy show up as warnings far more often than maturity
    assert figures["troubled_customer_months"] >= 5, figures
    assert figures["mature_customer_months"] >= 30, figures
    assert figures["troubled_flagged_rate"] >= 0.25, figures
    assert figures["troubled_flagged_rate"] >= 3 * figures["mature_flagged_rate"], figures
    # (c) every injected burst is alerted, by the right rule, far above chance
    assert figures["anomaly_truth_account_days"] >= 1, figures
    assert figures["anomaly_recall"] == 1.0, figures
    assert figures["anomaly_rule_recall"] == 1.0, figures
    assert figures["anomaly_precision_lift"] >= 20, figures
