"""Value segments and RFM: deterministic, named by value, names kept across runs, written
back without duplicates, stability and drift recorded."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.segments import (
    FEATURES,
    MODEL_NAME,
    MODEL_VERSION,
    SEGMENT_NAMES,
    VALUE_FEATURES,
    design_matrix,
    fit_segments,
    label_customers,
    rfm_scores,
)
from warehouse.db import connect


def _features(n: int = 600, seed: int = 3, shift: float = 0.0) -> pd.DataFrame:
    """Three kinds of customer: affluent, everyday and barely active, plus noise."""
    rng = np.random.default_rng(seed)
    kind = rng.choice([0, 1, 2], size=n, p=[0.15, 0.55, 0.30])
    scale = np.array([40000.0, 4000.0, 300.0])[kind]
    frame = pd.DataFrame(
        {
            "contribution_t12m": scale * 0.05 * rng.lognormal(shift, 0.3, n),
            "deposit_balance": scale * rng.lognormal(shift, 0.3, n),
            "loan_balance": np.where(kind == 0, scale * 3 * rng.lognormal(0, 0.3, n), 0.0),
            "product_depth": np.array([5.0, 3.0, 1.0])[kind] + rng.integers(0, 2, n),
            "txns_3m": np.array([60.0, 30.0, 2.0])[kind] * rng.lognormal(0, 0.2, n),
            "days_since_last_txn": np.array([2.0, 4.0, 60.0])[kind] * rng.lognormal(0, 0.3, n),
            "digital_share_3m": np.clip(rng.normal(0.5, 0.2, n), 0, 1),
            "age_years": rng.integers(20, 80, n).astype(float),
            "tenure_months": rng.integers(1, 120, n).astype(float),
        },
        index=pd.RangeIndex(1, n + 1, name="customer_id"),
    )
    frame.loc[frame.index[::50], "days_since_last_txn"] = np.nan
    return frame


def test_segments_are_deterministic_and_named_in_order_of_value() -> None:
    features = _features()
    first, second = fit_segments(features), fit_segments(features)
    assert first.labels.equals(second.labels) and first.n_segments == second.n_segments
    assert 3 <= first.n_segments <= 6
    names = list(first.centroids)
    assert sorted(names, key=SEGMENT_NAMES.index) == SEGMENT_NAMES[: first.n_segments]
    design = design_matrix(features)
    value = design[VALUE_FEATURES].rank(pct=True).sum(axis=1).groupby(first.labels).mean()
    order = [n for n in SEGMENT_NAMES if n in value.index]
    assert value[order[0]] == value.max() and value[order[-1]] == value.min()


def test_a_retrain_keeps_the_names_with_the_same_customers() -> None:
    first = fit_segments(_features(seed=3))
    # The next month: the same customers, slightly richer, slightly different noise.
    later = _features(seed=3, shift=0.05)
    refit = fit_segments(later, previous=first.centroids)
    assert refit.matched_previous and refit.n_segments == first.n_segments
    agreement = (refit.labels == first.labels).mean()
    assert agreement > 0.9, f"only {agreement:.0%} kept their segment name"
    unnamed = fit_segments(later)
    assert set(unnamed.centroids) <= set(SEGMENT_NAMES)


def test_too_few_customers_is_an_error() -> None:
    with pytest.raises(ValueError, match="too few customers"):
        fit_segments(_features(n=5))


def test_rfm_scores_are_quintiles_and_segments_follow_the_precedence() -> None:
    features = _features(n=500)
    scores = rfm_scores(features)
    for column in ("r", "f", "m"):
        assert scores[column].value_counts().to_dict() == {s: 100 for s in range(1, 6)}
    # Never transacted (missing recency) is the worst recency.
    assert (scores.loc[features["days_since_last_txn"].isna(), "r"] == 1).all()
    champion = (scores.r >= 4) & (scores.f >= 4) & (scores.m >= 4)
    assert (scores.loc[champion, "rfm_segment"] == "Champions").all()
    at_risk = (scores.r <= 2) & (scores.f >= 3) & ~((scores.f >= 4) & (scores.m >= 3))
    assert (scores.loc[at_risk, "rfm_segment"] == "At risk").all()
    assert scores["rfm_segment"].notna().all()


def test_labelling_a_month_replaces_it_and_records_stability(scratch_warehouse: str) -> None:
    months = [date(2031, 1, 1), date(2031, 2, 1)]
    frames = {months[0]: _features(seed=3), months[1]: _features(seed=3, shift=0.05)}

    def read(url: str, month: date) -> pd.DataFrame:
        return frames[month][FEATURES]

    runs = [
        label_customers(scratch_warehouse, months[0], read),
        label_customers(scratch_warehouse, months[1], read),
        label_customers(scratch_warehouse, months[1], read),
    ]
    try:
        with connect(scratch_warehouse) as conn:
            rows, customers, run_ids = conn.execute(
                "select count(*), count(distinct customer_id), array_agg(distinct model_run_id)"
                " from ml.customer_segments where as_of_month = %s and model_version = %s",
                (months[1], MODEL_VERSION),
            ).fetchone()
            history = conn.execute(
                "select count(*) from ml.customer_segments where as_of_month = %s",
                (months[0],),
            ).fetchone()[0]
            checks = dict(
                conn.execute(
                    "select check_name || ':' || subject, metric_value from ml.monitoring"
                    " where model_run_id = %s",
                    (runs[2].model_run_id,),
                ).fetchall()
            )
            recorded = conn.execute(
                "select count(*) from ml.model_runs where model_name = %s and"
                " model_run_id = any(%s) and finished_at is not null and data_fingerprint <> ''"
                " and metrics ? 'centroids' and training_window is not null",
                (MODEL_NAME, [r.model_run_id for r in runs]),
            ).fetchone()[0]
            current = conn.execute(
                "select count(*) from ml.current_customer_segments"
                " where as_of_month = %s and rfm_segment is not null",
                (months[1],),
            ).fetchone()[0]
        assert rows == customers == 600 and run_ids == [runs[2].model_run_id], "replaced"
        assert history == 600, "the earlier month's labels stay as history"
        assert runs[2].stability == pytest.approx(1.0), "unchanged data, same segments"
        assert runs[1].sizes == runs[2].sizes
        assert checks[f"adjusted Rand index:{MODEL_NAME}"] == pytest.approx(1.0)
        assert any(key.startswith("population stability index:") for key in checks)
        assert recorded == 3
        assert current == 600
    finally:
        with connect(scratch_warehouse) as conn:
            ids = [r.model_run_id for r in runs]
            conn.execute("delete from ml.monitoring where model_run_id = any(%s)", (ids,))
            conn.execute("delete from ml.customer_segments where model_run_id = any(%s)", (ids,))
            conn.execute("delete from ml.model_runs where model_run_id = any(%s)", (ids,))
