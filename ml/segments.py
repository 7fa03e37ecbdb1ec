"""Value segments: k-means on log-scaled balances and product depth, written back to ``ml``.

The number of segments is chosen by the best silhouette score over a small range;
segments are named by their rank of average relationship size, so names read the same
from run to run. Re-running a month replaces that month's labels for the model version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from psycopg import sql
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ml.features import fingerprint
from ml.writeback import finish_run, replace_labels, start_run
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("ml.segments")

MODEL_NAME = "value_segments"
MODEL_VERSION = "0.1.0"
FEATURES = ["deposit_balance", "loan_balance", "n_products", "n_accounts"]
SEGMENT_NAMES = ["Top value", "High value", "Core", "Developing", "Entry", "Minimal"]
K_RANGE = range(3, 7)
RANDOM_STATE = 20260101


@dataclass(frozen=True)
class SegmentRun:
    model_run_id: int
    as_of_month: date
    n_segments: int
    silhouette: float
    rows_scored: int
    sizes: dict[str, int]


FEATURES_TABLE = ("marts", "mart_customer_balances")


def read_features(url: str, table: tuple[str, str] = FEATURES_TABLE) -> pd.DataFrame:
    query = sql.SQL(
        "select customer_id, deposit_balance::float8, loan_balance::float8,"
        " n_products, n_accounts from {} order by customer_id"
    ).format(sql.Identifier(*table))
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    return frame.set_index("customer_id")


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """log1p that keeps the sign: overdrawn accounts give negative balances."""
    return np.sign(values) * np.log1p(np.abs(values))


def _pipeline(k: int):
    return make_pipeline(
        FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
        StandardScaler(),
        KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE),
    )


def fit_segments(features: pd.DataFrame) -> tuple[pd.Series, int, float]:
    """Labels 0..k-1 ordered by relationship size (0 = largest), k, and its silhouette."""
    if len(features) < max(K_RANGE) * 2:
        raise ValueError(f"too few customers to segment: {len(features)}")
    values = features[FEATURES].to_numpy(dtype=float)
    best: tuple[float, int, np.ndarray] | None = None
    for k in K_RANGE:
        pipe = _pipeline(k)
        labels = pipe.fit_predict(values)
        scaled = pipe[:-1].transform(values)
        score = float(silhouette_score(scaled, labels, random_state=RANDOM_STATE))
        if best is None or score > best[0]:
            best = (score, k, labels)
    assert best is not None
    score, k, labels = best
    size = features["deposit_balance"] + features["loan_balance"]
    order = size.groupby(labels).mean().sort_values(ascending=False).index
    rank = {int(cluster): position for position, cluster in enumerate(order)}
    return pd.Series([rank[int(c)] for c in labels], index=features.index), k, score


def label_customers(
    url: str, as_of_month: date, features_table: tuple[str, str] = FEATURES_TABLE
) -> SegmentRun:
    features = read_features(url, features_table)
    labels, k, score = fit_segments(features)
    names = labels.map(lambda i: SEGMENT_NAMES[i])
    sizes = {str(name): int(count) for name, count in names.value_counts().sort_index().items()}
    params = {
        "features": FEATURES,
        "k_range": list(K_RANGE),
        "random_state": RANDOM_STATE,
        "transform": "log1p+standard_scaler",
        "algorithm": "kmeans",
    }
    with connect(url) as conn, conn.transaction():
        run_id = start_run(
            conn, MODEL_NAME, MODEL_VERSION, as_of_month, params, fingerprint(features[FEATURES])
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
            ],
            (
                (
                    int(customer_id),
                    as_of_month,
                    MODEL_VERSION,
                    int(segment),
                    SEGMENT_NAMES[int(segment)],
                    run_id,
                )
                for customer_id, segment in labels.items()
            ),
            as_of_month,
            MODEL_VERSION,
        )
        finish_run(
            conn,
            run_id,
            {"n_segments": k, "silhouette": round(score, 4), "sizes": sizes},
            len(labels),
        )
    log.info(
        "labelled %d customers into %d segments (silhouette %.3f): %s",
        len(labels),
        k,
        score,
        json.dumps(sizes, ensure_ascii=False),
    )
    return SegmentRun(run_id, as_of_month, k, score, len(labels), sizes)
