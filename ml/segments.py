"""Value/behaviour segments and RFM scores per customer and month, written back to ``ml``.

Segments: k-means on log-transformed, standardised features (contribution, balances,
product depth, transaction frequency and recency, digital share, age, tenure); k is the
fewest segments whose silhouette is within K_TOLERANCE of the best over K_RANGE (fewer
segments are easier to act on, and near-ties between k would otherwise flip with the
k-means seed). Names are business words that stay with the
same group of customers from run to run: the new centroids are matched to the previous
run's (kept in its metrics, in feature units) by the assignment that minimises the total
distance; without a previous run the segments are named in order of value.

RFM: recency, frequency and monetary quintile scores (5 best) and a named RFM segment by
a fixed precedence (RFM_SEGMENTS, first match wins).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from ml.features import fingerprint, read_features
from ml.monitoring import (
    ARI_ALERT,
    PSI_ALERT,
    drift_alerts,
    feature_drift,
    segment_stability,
    stability_alert,
)
from ml.writeback import finish_run, record_checks, replace_labels, start_run
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("ml.segments")

MODEL_NAME = "value_segments"
MODEL_VERSION = "0.3.0"
FEATURES = [
    "contribution_t12m",
    "deposit_balance",
    "loan_balance",
    "product_depth",
    "txns_3m",
    "days_since_last_txn",
    "digital_share_3m",
    "age_years",
    "tenure_months",
]
# Money and counts are heavy-tailed: compared on a signed log scale.
LOG_FEATURES = ["contribution_t12m", "deposit_balance", "loan_balance", "txns_3m"]
# What "value" means when segments are named in order (no previous run to follow).
VALUE_FEATURES = ["contribution_t12m", "deposit_balance", "loan_balance", "product_depth"]
SEGMENT_NAMES = ["Top value", "High value", "Core", "Developing", "Entry", "Minimal"]
K_RANGE = range(3, 7)
# Silhouettes this close count as a tie: the fewest segments win, and a retrain keeps the
# previous number of segments unless another k separates the customers clearly better.
K_TOLERANCE = 0.05
SILHOUETTE_SAMPLE = 10_000
RANDOM_STATE = 20260101

# (name, rule on the scores r, f, m), first match wins.
RFM_SEGMENTS: list[tuple[str, str]] = [
    ("Champions", "r >= 4 and f >= 4 and m >= 4"),
    ("Loyal", "f >= 4 and m >= 3"),
    ("At risk", "r <= 2 and f >= 3"),
    ("Promising", "r >= 4 and f <= 2"),
    ("Hibernating", "r <= 2 and f <= 2"),
    ("Needs attention", "True"),
]


@dataclass(frozen=True)
class SegmentFit:
    labels: pd.Series  # segment name per customer
    n_segments: int
    silhouette: float
    centroids: dict[str, dict[str, float]]  # per segment name, in feature units
    matched_previous: bool


@dataclass(frozen=True)
class SegmentRun:
    model_run_id: int
    as_of_month: date
    n_segments: int
    silhouette: float
    rows_scored: int
    sizes: dict[str, int]
    stability: float | None
    alerts: list[str]


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """log1p that keeps the sign: loss-making customers have negative contribution."""
    return np.sign(values) * np.log1p(np.abs(values))


def design_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """The clustering inputs in feature units, with gaps filled by what they mean: no
    transaction yet is as long ago as the relationship, no channel data is no digital use,
    unknown age is the median."""
    frame = features[FEATURES].astype(float).copy()
    tenure_days = frame["tenure_months"].fillna(0) * 30.4
    frame["days_since_last_txn"] = frame["days_since_last_txn"].fillna(tenure_days)
    frame["digital_share_3m"] = frame["digital_share_3m"].fillna(0.0)
    frame["age_years"] = frame["age_years"].fillna(frame["age_years"].median())
    return frame.fillna(0.0)


def _transform(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out[LOG_FEATURES] = _signed_log1p(out[LOG_FEATURES].to_numpy())
    return out


def _name_by_value(centroids: pd.DataFrame, scaler: StandardScaler) -> dict[int, str]:
    scaled = pd.DataFrame(
        scaler.transform(_transform(centroids)), index=centroids.index, columns=FEATURES
    )
    order = scaled[VALUE_FEATURES].sum(axis=1).sort_values(ascending=False).index
    return {int(cluster): SEGMENT_NAMES[rank] for rank, cluster in enumerate(order)}


def _name_by_previous(
    centroids: pd.DataFrame, previous: dict[str, dict[str, float]], scaler: StandardScaler
) -> dict[int, str]:
    """Each new cluster takes the name of the previous centroid it is matched to (minimum
    total distance in the current scaled space); clusters left over take the unused names
    in order of value."""
    names = list(previous)
    old = pd.DataFrame([previous[n] for n in names], columns=FEATURES)
    new_scaled = scaler.transform(_transform(centroids))
    old_scaled = scaler.transform(_transform(old))
    cost = np.linalg.norm(new_scaled[:, None, :] - old_scaled[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    mapping = {int(centroids.index[r]): names[c] for r, c in zip(rows, cols, strict=True)}
    unused = [n for n in SEGMENT_NAMES if n not in mapping.values()]
    leftover = [c for c in centroids.index if int(c) not in mapping]
    if leftover:
        by_value = _name_by_value(centroids.loc[leftover], scaler)
        for cluster in sorted(leftover, key=lambda c: SEGMENT_NAMES.index(by_value[int(c)])):
            mapping[int(cluster)] = unused.pop(0)
    return mapping


def _silhouette(scaled: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette on a fixed sample of SILHOUETTE_SAMPLE customers: the exact score is
    quadratic in the number of customers (10^10 distances at 100,000)."""
    sample = min(len(scaled), SILHOUETTE_SAMPLE)
    return float(silhouette_score(scaled, labels, sample_size=sample, random_state=RANDOM_STATE))


def fit_segments(
    features: pd.DataFrame,
    previous: dict[str, dict[str, float]] | None = None,
    random_state: int = RANDOM_STATE,
) -> SegmentFit:
    """Cluster the customers and name the clusters.

    k is the smallest in K_RANGE with a silhouette within K_TOLERANCE of the best; with a
    previous run, its k is kept while its silhouette is within K_TOLERANCE of the best,
    and k-means starts from its centroids, so that a retrain on similar data finds the
    same segments under the same names. ``random_state`` seeds k-means.
    """
    if len(features) < max(K_RANGE) * 2:
        raise ValueError(f"too few customers to segment: {len(features)}")
    raw = design_matrix(features)
    scaler = StandardScaler().fit(_transform(raw))
    scaled = scaler.transform(_transform(raw))
    fits: dict[int, tuple[float, np.ndarray]] = {}
    for k in K_RANGE:
        labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(scaled)
        fits[k] = (_silhouette(scaled, labels), labels)
    best = max(score for score, _ in fits.values())
    k = min(candidate for candidate, (score, _) in fits.items() if score >= best - K_TOLERANCE)
    if previous and len(previous) in fits and fits[len(previous)][0] >= best - K_TOLERANCE:
        k = len(previous)
        start = scaler.transform(_transform(pd.DataFrame(list(previous.values()))[FEATURES]))
        labels = KMeans(n_clusters=k, init=start, n_init=1).fit_predict(scaled)
        fits[k] = (_silhouette(scaled, labels), labels)
    score, labels = fits[k]
    centroids = raw.groupby(labels).mean()
    mapping = (
        _name_by_previous(centroids, previous, scaler)
        if previous
        else _name_by_value(centroids, scaler)
    )
    named = pd.Series([mapping[int(c)] for c in labels], index=features.index, name="segment")
    return SegmentFit(
        labels=named,
        n_segments=k,
        silhouette=score,
        centroids={
            mapping[int(c)]: {f: round(float(v), 6) for f, v in row.items()}
            for c, row in centroids.iterrows()
        },
        matched_previous=bool(previous),
    )


def _quintile(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 by quintile of rank (ties broken by order, so the groups are even)."""
    ranked = values.rank(method="first", ascending=higher_is_better)
    return pd.qcut(ranked, 5, labels=[1, 2, 3, 4, 5]).astype(int)


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """Recency (days since the last transaction, fewer is better; never is worst),
    frequency (transactions over three months) and monetary (trailing-12-month
    contribution) quintile scores, and the RFM segment."""
    recency = features["days_since_last_txn"].fillna(np.inf)
    scores = pd.DataFrame(
        {
            "r": _quintile(-recency.clip(upper=1e12)),
            "f": _quintile(features["txns_3m"].fillna(0)),
            "m": _quintile(features["contribution_t12m"].fillna(0)),
        },
        index=features.index,
    )
    segment = pd.Series(pd.NA, index=features.index, dtype=object)
    for name, rule in RFM_SEGMENTS:
        hits = scores.eval(rule) if rule != "True" else pd.Series(True, index=scores.index)
        segment = segment.where(segment.notna() | ~hits, name)
    scores["rfm_segment"] = segment
    return scores


def _previous_run(url: str, as_of_month: date, same_month: bool) -> tuple[int, date, dict] | None:
    """The latest finished run of this version for ``as_of_month`` (``same_month``) or for
    the latest month before it: id, month, metrics."""
    month_rule = "as_of_month = %s" if same_month else "as_of_month < %s"
    with connect(url) as conn:
        return conn.execute(
            "select model_run_id, as_of_month, metrics from ml.model_runs"
            " where model_name = %s and model_version = %s and finished_at is not null"
            f" and {month_rule} order by as_of_month desc, model_run_id desc limit 1",
            (MODEL_NAME, MODEL_VERSION, as_of_month),
        ).fetchone()


def _previous_labels(url: str, run_id: int) -> pd.Series:
    with connect(url) as conn:
        rows = conn.execute(
            "select customer_id, segment_name from ml.customer_segments where model_run_id = %s",
            (run_id,),
        ).fetchall()
    return pd.Series({int(c): s for c, s in rows}, dtype=object)


def label_customers(
    url: str,
    as_of_month: date,
    read: Callable[[str, date], pd.DataFrame] = read_features,
) -> SegmentRun:
    """Segment and RFM-score the customers of ``as_of_month`` (features from ``read``);
    write them, the run, its segment stability and its feature drift."""
    features = read(url, as_of_month)
    # Segments follow the last month's (names, k, starting centroids), so re-running a
    # month gives the same labels; stability is measured against an earlier run of this
    # month when there is one (unchanged data), else against the last month's.
    previous = _previous_run(url, as_of_month, same_month=False)
    fit = fit_segments(features, previous[2].get("centroids") if previous else None)
    rfm = rfm_scores(features)
    checks: dict[tuple[str, str], tuple[float, float]] = {}
    alerts = []
    stability = None
    compared = _previous_run(url, as_of_month, same_month=True) or previous
    if compared is not None:
        stability = segment_stability(_previous_labels(url, compared[0]), fit.labels)
        checks[("adjusted Rand index", MODEL_NAME)] = (stability, ARI_ALERT)
        alerts += stability_alert(stability, MODEL_NAME)
    if previous is not None:
        reference = design_matrix(read(url, previous[1]))
        drift = feature_drift(reference, design_matrix(features))
        checks.update({("population stability index", f): (v, PSI_ALERT) for f, v in drift.items()})
        alerts += drift_alerts(drift)
    sizes = {str(n): int(c) for n, c in fit.labels.value_counts().sort_index().items()}
    params = {
        "features": FEATURES,
        "log_features": LOG_FEATURES,
        "k_range": list(K_RANGE),
        "k_criterion": "fewest segments with a silhouette within k_tolerance of the best",
        "k_tolerance": K_TOLERANCE,
        "random_state": RANDOM_STATE,
        "rfm_segments": RFM_SEGMENTS,
        "previous_run": previous[0] if previous else None,
        "stability_compared_with_run": compared[0] if compared else None,
    }
    metrics = {
        "n_segments": fit.n_segments,
        "silhouette": round(fit.silhouette, 4),
        "sizes": sizes,
        "centroids": fit.centroids,
        "named_after_previous": fit.matched_previous,
        "adjusted_rand_index": None if stability is None else round(stability, 4),
        "alerts": [a.message for a in alerts],
    }
    with connect(url) as conn, conn.transaction():
        run_id = start_run(
            conn,
            MODEL_NAME,
            MODEL_VERSION,
            as_of_month,
            params,
            fingerprint(features[FEATURES]),
            (as_of_month, as_of_month),
        )
        replace_labels(
            conn,
            "customer_segments",
            [
                "customer_id",
                "as_of_month",
                "model_version",
                "segment_id",
                "segment_name",
                "model_run_id",
                "recency_score",
                "frequency_score",
                "monetary_score",
                "rfm_segment",
            ],
            (
                (
                    int(customer_id),
                    as_of_month,
                    MODEL_VERSION,
                    SEGMENT_NAMES.index(name),
                    name,
                    run_id,
                    int(rfm.at[customer_id, "r"]),
                    int(rfm.at[customer_id, "f"]),
                    int(rfm.at[customer_id, "m"]),
                    rfm.at[customer_id, "rfm_segment"],
                )
                for customer_id, name in fit.labels.items()
            ),
            as_of_month,
            MODEL_VERSION,
        )
        record_checks(conn, run_id, checks, alerts)
        finish_run(conn, run_id, metrics, len(fit.labels))
    for alert in alerts:
        log.warning("value segments %s: %s", as_of_month, alert.message)
    log.info(
        "labelled %d customers of %s into %d segments (silhouette %.3f%s): %s",
        len(fit.labels),
        as_of_month,
        fit.n_segments,
        fit.silhouette,
        "" if stability is None else f", adjusted Rand {stability:.3f} against the last run",
        json.dumps(sizes, ensure_ascii=False),
    )
    return SegmentRun(
        run_id,
        as_of_month,
        fit.n_segments,
        fit.silhouette,
        len(fit.labels),
        sizes,
        stability,
        [a.message for a in alerts],
    )
