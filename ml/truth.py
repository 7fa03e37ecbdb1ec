"""The ML labels against the demo bank's hidden truth, recorded as a run of their own.

The demo bank's generator knows what the models can only infer: each customer's latent
lifecycle stage, the month it leaves, the bursts it injected. This check runs the models
the way the pipeline does and measures them against that truth:

- churn: AUC of the churn probability written for a month ``HORIZON_MONTHS`` before the
  last closed one, against who really left in the months after (the model trained on
  earlier months only: a time split);
- lifecycle: agreement of the written stage with the latent stage (all customers, and
  the customers not yet gone, whose stage is the hard part), next to the rules' own;
- anomalies: precision and recall of the model's alerts over the checked months, against
  the injected bursts (account and day);
- segments: adjusted Rand index between two runs of the same month on unchanged data, and
  against a k-means started from another seed.

The figures go to ``ml.model_runs`` (model ``demo_truth_check``) and are returned.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from ml.anomalies import label_anomalies
from ml.churn import HORIZON_MONTHS, add_months
from ml.features import closed_months, fingerprint, read_features
from ml.lifecycle import MODEL_VERSION as LIFECYCLE_VERSION
from ml.lifecycle import label_lifecycle
from ml.segments import MODEL_VERSION as SEGMENTS_VERSION
from ml.segments import RANDOM_STATE, fit_segments, label_customers
from ml.writeback import finish_run, start_run
from sources.demo_bank.truth import Truth, read_truth
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("ml.truth")

MODEL_NAME = "demo_truth_check"
MODEL_VERSION = "0.1.0"
# Stages whose latent truth is behaviour, not bookkeeping: a churned or not-yet-joined
# customer is one the rules cannot get wrong.
LIVE_STAGES = ("new", "growth", "mature", "decline", "dormant")


def _ratio(part: float, whole: float) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _frame(url: str, query: str, params: tuple) -> pd.DataFrame:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def churn_figures(url: str, truth: Truth, month: date) -> dict[str, object]:
    """AUC of the churn probabilities written for ``month`` against the truth's leavers
    in the HORIZON_MONTHS after it."""
    scores = _frame(
        url,
        "select customer_id, churn_probability from ml.customer_lifecycle"
        " where as_of_month = %s and model_version = %s and churn_probability is not null",
        (month, LIFECYCLE_VERSION),
    ).set_index("customer_id")["churn_probability"]
    left = truth.churned_between(month, add_months(month, HORIZON_MONTHS))
    left = left.reindex(scores.index, fill_value=False).astype(bool)
    figures: dict[str, object] = {
        "month": month.isoformat(),
        "scored": len(scores),
        "left_within_horizon": int(left.sum()),
    }
    if left.nunique() == 2:
        figures["auc"] = round(float(roc_auc_score(left, scores.astype(float))), 4)
        figures["mean_probability"] = round(float(scores.mean()), 4)
        figures["observed_rate"] = round(float(left.mean()), 4)
    return figures


def stage_figures(url: str, truth: Truth, month: date) -> dict[str, object]:
    """Agreement of the written lifecycle stage (and of the rule stage it started from)
    with the latent stage of ``month``."""
    labels = _frame(
        url,
        "select l.customer_id, l.lifecycle_stage, m.lifecycle_stage as rule_stage"
        " from ml.customer_lifecycle as l join marts.mart_customer_lifecycle_monthly as m"
        " on m.customer_id = l.customer_id and m.month_start = l.as_of_month"
        " where l.as_of_month = %s and l.model_version = %s",
        (month, LIFECYCLE_VERSION),
    )
    latent = truth.customer_months[truth.customer_months["month_start"] == month]
    both = labels.merge(latent[["customer_id", "latent_stage"]], on="customer_id")
    live = both[both["latent_stage"].isin(LIVE_STAGES)]
    agree = both["lifecycle_stage"] == both["latent_stage"]
    live_agree = live["lifecycle_stage"] == live["latent_stage"]
    rules_agree = live["rule_stage"] == live["latent_stage"]
    return {
        "month": month.isoformat(),
        "customers": len(both),
        "agreement": _ratio(agree.sum(), len(both)),
        "agreement_live": _ratio(live_agree.sum(), len(live)),
        "rules_agreement_live": _ratio(rules_agree.sum(), len(live)),
        "recall_by_stage": {
            stage: _ratio((agree & (both["latent_stage"] == stage)).sum(), n)
            for stage, n in both["latent_stage"].value_counts().sort_index().items()
        },
    }


def anomaly_figures(url: str, truth: Truth, months: list[date]) -> dict[str, object]:
    """Precision and recall of the model's alerts of ``months`` against the bursts the
    generator injected in them (an alert hits when account and day match)."""
    alerts = _frame(
        url,
        "select distinct account_id, alert_date from ml.anomaly_alerts where as_of_month = any(%s)",
        (months,),
    )
    month_of = truth.anomalies["alert_date"].map(lambda day: day.replace(day=1))
    bursts = truth.anomalies[month_of.isin(months)]
    found = set(zip(alerts["account_id"], alerts["alert_date"], strict=True))
    planted = set(zip(bursts["account_id"], bursts["alert_date"], strict=True))
    hits = found & planted
    return {
        "months": len(months),
        "injected": len(planted),
        "alerts": len(found),
        "hits": len(hits),
        "precision": _ratio(len(hits), len(found)),
        "recall": _ratio(len(hits), len(planted)),
    }


def stability_figures(url: str, month: date, seeds: int = 3) -> dict[str, object]:
    """Adjusted Rand index of a second segment run of ``month`` against the first (the
    data unchanged), and of k-means from other seeds against the written segments."""
    first = label_customers(url, month)
    again = label_customers(url, month)
    features = read_features(url, month)
    written = _frame(
        url,
        "select customer_id, segment_name from ml.customer_segments where model_run_id = %s",
        (again.model_run_id,),
    ).set_index("customer_id")["segment_name"]
    reseeded = [
        adjusted_rand_score(
            written.reindex(features.index),
            fit_segments(features, random_state=RANDOM_STATE + seed).labels,
        )
        for seed in range(1, seeds + 1)
    ]
    return {
        "month": month.isoformat(),
        "runs": [first.model_run_id, again.model_run_id],
        "ari_rerun": None if again.stability is None else round(again.stability, 4),
        "ari_other_seeds_min": round(min(reseeded), 4),
        "segments": again.n_segments,
    }


def check_against_truth(url: str, data_dir: Path, through: date) -> dict[str, object]:
    """Run the models on the closed months up to ``through`` as the pipeline would and
    measure them against the demo bank's truth; the figures are recorded and returned.

    The churn check needs HORIZON_MONTHS of truth after its month, so it scores the month
    that far before the last closed one; the stage and segment checks use the last closed
    month, the anomaly check every closed month after the first.
    """
    truth = read_truth(data_dir)
    months = closed_months(url, through)
    if len(months) < HORIZON_MONTHS + 3:
        raise ValueError(
            f"{len(months)} closed months up to {through}: the truth check needs at least"
            f" {HORIZON_MONTHS + 3} (a churn model to train, and {HORIZON_MONTHS} months after)"
        )
    last = months[-1]
    churn_month = months[-1 - HORIZON_MONTHS]
    for month in (churn_month, last):
        label_lifecycle(url, month)
    anomaly_months = months[1:]
    for month in anomaly_months:
        label_anomalies(url, month)
    figures: dict[str, object] = {
        "churn": churn_figures(url, truth, churn_month),
        "lifecycle": stage_figures(url, truth, last),
        "anomalies": anomaly_figures(url, truth, anomaly_months),
        "segments": stability_figures(url, last),
    }
    with connect(url) as conn, conn.transaction():
        run_id = start_run(
            conn,
            MODEL_NAME,
            MODEL_VERSION,
            last,
            {
                "lifecycle_version": LIFECYCLE_VERSION,
                "segments_version": SEGMENTS_VERSION,
                "churn_horizon_months": HORIZON_MONTHS,
                "truth": str(Path(data_dir) / "demo_bank" / "truth"),
            },
            fingerprint(truth.customer_months),
            (months[0], last),
        )
        finish_run(conn, run_id, figures, len(truth.customers))
    figures["model_run_id"] = run_id
    log.info("ML against the demo bank's truth (run %d): %s", run_id, figures)
    return figures
