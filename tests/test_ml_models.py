"""The ML stage's public models, checked against data whose truth is known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from ml.anomalies import reason, score_account_days
from ml.churn import make_churn_model
from ml.features import PRODUCTS
from ml.lifecycle import BgNbd, simulate
from ml.monitoring import (
    PSI_ALERT,
    drift_alerts,
    feature_drift,
    population_stability_index,
    segment_stability,
    stability_alert,
)
from ml.propensity import WEALTH_FEATURES, next_best_products, tree_rules

TRUE_PARAMS = {"r": 0.6, "alpha": 4.0, "a": 1.4, "b": 3.5}


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(7)
    age = rng.uniform(26.0, 52.0, size=6000)  # weeks since each customer's first purchase
    frequency, recency, alive, future = simulate(TRUE_PARAMS, age, rng, horizon=26.0)
    model = BgNbd().fit(frequency, recency, age)
    return model, frequency, recency, age, alive, future


def test_bgnbd_recovers_the_parameters_it_was_simulated_with(simulated) -> None:
    model = simulated[0]
    assert set(model.params_) == {"r", "alpha", "a", "b"}
    for name, true in TRUE_PARAMS.items():
        assert model.params_[name] == pytest.approx(true, rel=0.25), (name, model.params_)


def test_bgnbd_probability_alive_matches_who_was_still_active(simulated) -> None:
    model, frequency, recency, age, alive, _ = simulated
    p_alive = model.probability_alive(frequency, recency, age)
    assert np.all((p_alive > 0) & (p_alive <= 1))
    assert np.all(p_alive[frequency == 0] == 1.0), "no repeat purchase: not seen to drop out"
    assert p_alive.mean() == pytest.approx(alive.mean(), abs=0.03)
    # Calibrated across the range: customers grouped by predicted probability.
    bins = pd.qcut(p_alive[frequency > 0], 5, duplicates="drop")
    observed = pd.Series(alive[frequency > 0]).groupby(bins, observed=True).mean()
    predicted = pd.Series(p_alive[frequency > 0]).groupby(bins, observed=True).mean()
    assert np.max(np.abs(observed.to_numpy() - predicted.to_numpy())) < 0.08
    assert roc_auc_score(alive[frequency > 0], p_alive[frequency > 0]) > 0.75


def test_bgnbd_expected_transactions_match_the_following_half_year(simulated) -> None:
    model, frequency, recency, age, _, future = simulated
    expected = model.expected_transactions(26.0, frequency, recency, age)
    assert expected.mean() == pytest.approx(future.mean(), rel=0.1)
    by_frequency = (
        pd.DataFrame({"bucket": np.minimum(frequency, 6), "expected": expected, "actual": future})
        .groupby("bucket")[["expected", "actual"]]
        .mean()
    )
    assert by_frequency["expected"].corr(by_frequency["actual"]) > 0.95
    assert np.all(model.expected_transactions(0.0, frequency, recency, age) == 0)
    assert np.all(np.diff(model.expected_transactions_new(np.array([1.0, 10.0, 50.0]))) > 0)


def test_bgnbd_refuses_impossible_customers() -> None:
    with pytest.raises(ValueError, match="recency must not exceed T"):
        BgNbd().fit([1, 2], [5.0, 9.0], [4.0, 10.0])
    with pytest.raises(ValueError, match="whole numbers"):
        BgNbd().fit([1.5], [2.0], [4.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        BgNbd().probability_alive([1], [1.0], [2.0])


def _churn_frame(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "balance": rng.lognormal(8.0, 1.0, n),
            "months_inactive": rng.integers(0, 12, n).astype(float),
            "segment": rng.choice(["mass", "affluent", "private"], n),
            "channel": pd.Categorical(rng.choice(["branch", "mobile"], n)),
        }
    )
    logit = (
        -2.5
        + 0.35 * frame["months_inactive"]
        - 0.4 * np.log(frame["balance"] / 3000.0)
        + 0.8 * (frame["segment"] == "mass")
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    frame.loc[frame.index[::23], "balance"] = np.nan
    frame.loc[frame.index[::29], "segment"] = None
    return frame, churned


def test_churn_model_learns_from_mixed_columns_and_calibrates() -> None:
    rng = np.random.default_rng(11)
    train, y_train = _churn_frame(rng, 4000)
    test, y_test = _churn_frame(rng, 2000)
    model = make_churn_model()
    with pytest.raises(NotFittedError):
        model.predict_proba(test)
    fitted = clone(model).fit(train, y_train)
    proba = fitted.predict_proba(test)
    assert proba.shape == (len(test), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.75
    # Calibrated: the mean probability is the churn rate, within deciles too.
    assert proba[:, 1].mean() == pytest.approx(y_test.mean(), abs=0.03)
    deciles = pd.qcut(proba[:, 1], 5, duplicates="drop")
    gap = (
        pd.Series(y_test).groupby(deciles, observed=True).mean()
        - pd.Series(proba[:, 1]).groupby(deciles, observed=True).mean()
    )
    assert gap.abs().max() < 0.1
    unseen = test.head(3).copy()
    unseen["segment"] = ["ultra", None, "mass"]
    assert np.isfinite(fitted.predict_proba(unseen)).all()


def test_tree_rules_read_back_what_the_tree_does() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    features = pd.DataFrame(
        {
            "deposit_balance": rng.lognormal(8.0, 1.2, n),
            "age": rng.integers(18, 90, n).astype(float),
            "products": rng.integers(1, 6, n).astype(float),
        }
    )
    wealthy = (features["deposit_balance"] > 2500) & (features["age"] > 55)
    noisy = np.where(rng.random(n) < 0.1, ~wealthy, wealthy)
    target = np.where(noisy, "wealth", "other")
    tree = DecisionTreeClassifier(criterion="entropy", max_depth=4, min_samples_leaf=40)
    tree.fit(features, target)
    rules = tree_rules(tree, list(features.columns))
    assert len(rules) == tree.get_n_leaves()
    assert sum(rule.support for rule in rules) == pytest.approx(1.0)
    leaves = tree.apply(features)
    for rule in rules:
        # Each rule's conditions, evaluated independently, select exactly its leaf's rows.
        mask = np.ones(n, dtype=bool)
        for condition in rule.conditions:
            column = features[condition.feature].to_numpy()
            if condition.operator == "<=":
                mask &= column <= condition.threshold
            else:
                mask &= column > condition.threshold
        assert np.array_equal(mask, leaves == rule.leaf), rule.text
        assert mask.sum() == rule.samples
        share = float(np.mean(target[mask] == rule.prediction))
        assert rule.confidence == pytest.approx(share)
        assert rule.text.startswith("IF ") and " THEN " in rule.text
    # The planted rule comes out readable: age above 55 and deposits above 2,500.
    best_wealth = max(
        (r for r in rules if r.prediction == "wealth"), key=lambda r: r.support * r.confidence
    )
    bounds = {(c.feature, c.operator): c.threshold for c in best_wealth.conditions}
    assert bounds[("age", ">")] == pytest.approx(55, abs=1.5)
    assert bounds[("deposit_balance", ">")] == pytest.approx(2500, rel=0.1)
    assert best_wealth.confidence > 0.8
    with pytest.raises(ValueError, match="feature names"):
        tree_rules(tree, ["age"])


def test_population_stability_index_sees_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.lognormal(8.0, 1.0, 20000))
    same = pd.Series(rng.lognormal(8.0, 1.0, 20000))
    shifted = pd.Series(rng.lognormal(8.6, 1.0, 20000))
    assert population_stability_index(reference, same) < 0.01
    assert population_stability_index(reference, shifted) > PSI_ALERT
    # Hand-computed on categories: shares (0.5, 0.5) against (0.25, 0.75).
    psi = population_stability_index(pd.Series(list("aabb")), pd.Series(list("abbb")))
    assert psi == pytest.approx((0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(1.5))
    drift = feature_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": shifted}))
    assert [alert.subject for alert in drift_alerts(drift)] == ["x"]


def test_segment_stability_is_one_for_the_same_partition_under_other_names() -> None:
    customers = pd.Index(range(1, 301), name="customer_id")
    labels = pd.Series(np.repeat(["Top", "Core", "Entry"], 100), index=customers)
    renamed = labels.map({"Top": "A", "Core": "B", "Entry": "C"})
    assert segment_stability(labels, renamed) == pytest.approx(1.0)
    shuffled = pd.Series(np.random.default_rng(2).permutation(labels.to_numpy()), customers)
    assert segment_stability(labels, shuffled) < 0.1
    assert stability_alert(segment_stability(labels, shuffled), "value_segments")
    assert not stability_alert(1.0, "value_segments")


def test_isolation_forest_puts_an_injected_pass_through_burst_on_top() -> None:
    rng = np.random.default_rng(9)
    n = 4000
    usual = rng.lognormal(7.0, 0.8, n)
    days = pd.DataFrame(
        {
            "account_id": np.arange(n),
            "customer_id": np.arange(n),
            "alert_date": [date(2025, 11, 1 + i % 28) for i in range(n)],
            "txns": rng.integers(1, 6, n).astype(float),
            "credits": usual * rng.uniform(0, 1.5, n),
            "debits": usual * rng.uniform(0, 1.5, n),
            "cash": usual * rng.uniform(0, 0.3, n),
            "out_to_other_banks": usual * rng.uniform(0, 0.5, n),
            "cross_border": np.zeros(n),
            "largest": usual * rng.uniform(0.3, 1.0, n),
            "usual_daily_flow": usual,
            "history_days": np.full(n, 40.0),
        }
    )
    days["pass_through"] = np.minimum(days.credits, days.debits) / np.maximum(
        np.maximum(days.credits, days.debits), 1
    )
    burst = {
        "credits": 450_000.0,
        "debits": 449_000.0,
        "cash": 0.0,
        "txns": 3.0,
        "out_to_other_banks": 449_000.0,
        "cross_border": 300_000.0,
        "largest": 450_000.0,
        "pass_through": 449 / 450,
    }
    for column, value in burst.items():
        days.loc[1234, column] = value
    scores = score_account_days(days)
    assert scores.idxmax() == 1234
    words = reason(days.loc[1234])
    assert "the same day" in words and "cross-border" in words and "usual day" in words


def test_next_best_product_is_one_not_held_and_follows_the_pattern() -> None:
    rng = np.random.default_rng(4)
    n = 1500
    features = pd.DataFrame({name: rng.lognormal(8, 1, n) for name in WEALTH_FEATURES})
    for product in PRODUCTS:
        features[f"has_{product}"] = rng.random(n) < 0.3
    # Credit cards go with debit cards here: the model should offer one to the rest.
    features["has_credit_card"] = features["has_debit_card"] & (rng.random(n) < 0.8)
    offers = next_best_products(features)
    held = features[[f"has_{p}" for p in PRODUCTS]].to_numpy()
    for position, (product, _) in enumerate(offers.itertuples(index=False)):
        if isinstance(product, str):
            assert not held[position, PRODUCTS.index(product)], "offered a product held"
    debit_only = features["has_debit_card"] & ~features["has_credit_card"]
    share = (offers.loc[debit_only, "next_best_product"] == "credit_card").mean()
    assert share > 0.5, f"credit card offered to {share:.0%} of debit-only customers"
