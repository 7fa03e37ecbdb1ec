"""Value segments: deterministic, ordered by value, written back without duplicates."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.segments import MODEL_VERSION, SEGMENT_NAMES, fit_segments, label_customers
from warehouse.db import connect


def _features(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "deposit_balance": rng.lognormal(9, 1.5, n),
            "loan_balance": np.where(rng.random(n) < 0.2, rng.lognormal(11, 1, n), 0.0),
            "n_products": rng.integers(0, 4, n),
            "n_accounts": rng.integers(0, 5, n),
        },
        index=pd.RangeIndex(1, n + 1, name="customer_id"),
    )


def test_segments_are_deterministic_and_ranked_by_value() -> None:
    features = _features()
    labels_a, k_a, score_a = fit_segments(features)
    labels_b, k_b, score_b = fit_segments(features)
    assert (labels_a == labels_b).all() and k_a == k_b and score_a == score_b
    assert 3 <= k_a <= 6 and sorted(labels_a.unique()) == list(range(k_a))
    size = features["deposit_balance"] + features["loan_balance"]
    means = size.groupby(labels_a).mean()
    assert list(means.index[np.argsort(-means.to_numpy())]) == list(range(k_a))


def test_too_few_customers_is_an_error() -> None:
    with pytest.raises(ValueError, match="too few customers"):
        fit_segments(_features(n=5))


def test_relabelling_a_month_replaces_it(scratch_warehouse: str) -> None:
    features = _features(n=200)
    table = ("ml_test", "features")
    with connect(scratch_warehouse) as conn:
        conn.execute("create schema if not exists ml_test")
        conn.execute("drop table if exists ml_test.features")
        conn.execute(
            "create table ml_test.features (customer_id bigint,"
            " deposit_balance numeric, loan_balance numeric, n_products int,"
            " n_accounts int)"
        )
        with conn.cursor().copy("copy ml_test.features from stdin") as copy:
            for cid, row in features.iterrows():
                copy.write_row(
                    (
                        cid,
                        row.deposit_balance,
                        row.loan_balance,
                        int(row.n_products),
                        int(row.n_accounts),
                    )
                )
    try:
        month = date(2030, 1, 1)
        first = label_customers(scratch_warehouse, month, table)
        second = label_customers(scratch_warehouse, month, table)
        with connect(scratch_warehouse) as conn:
            rows, runs, names = conn.execute(
                "select count(*), count(distinct model_run_id), array_agg(distinct segment_name)"
                " from ml.customer_segments where as_of_month = %s and model_version = %s",
                (month, MODEL_VERSION),
            ).fetchone()
            recorded = conn.execute(
                "select count(*) from ml.model_runs where model_run_id in (%s, %s)"
                " and data_fingerprint <> '' and finished_at is not null",
                (first.model_run_id, second.model_run_id),
            ).fetchone()[0]
        assert rows == 200 and runs == 1, "a re-run replaces the month's labels"
        assert set(names) <= set(SEGMENT_NAMES)
        assert recorded == 2
        assert first.sizes == second.sizes
    finally:
        with connect(scratch_warehouse) as conn:
            conn.execute("delete from ml.customer_segments where as_of_month = '2030-01-01'")
            conn.execute("drop schema ml_test cascade")
