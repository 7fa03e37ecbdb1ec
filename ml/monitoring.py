"""Drift and stability between runs: population stability index per feature, adjusted
Rand index between two labellings, and the alerts a run raises when they cross limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

# Conventional reading of the PSI: below 0.1 stable, 0.1-0.25 some shift, above 0.25 a
# population the model was not trained on.
PSI_ALERT = 0.25
# Segments re-fitted on unchanged data should be the same segments.
ARI_ALERT = 0.9
# Share of a bin in which an empty bin counts, so the index stays finite.
EMPTY_SHARE = 1e-4


def population_stability_index(
    expected: pd.Series | np.ndarray, actual: pd.Series | np.ndarray, bins: int = 10
) -> float:
    """PSI of ``actual`` against ``expected`` (the training population): sum over bins of
    (a - e) * ln(a / e). Numeric values are binned at the expected deciles; anything else
    is compared category by category. Missing values form a bin of their own."""
    expected = pd.Series(expected).reset_index(drop=True)
    actual = pd.Series(actual).reset_index(drop=True)
    if expected.empty or actual.empty:
        raise ValueError("population_stability_index: both populations need values")
    numeric = pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected)
    if numeric and expected.nunique(dropna=True) > bins:
        edges = np.unique(np.quantile(expected.dropna(), np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        expected_bins = pd.cut(expected, edges, include_lowest=True).astype(object)
        actual_bins = pd.cut(actual, edges, include_lowest=True).astype(object)
    else:
        expected_bins, actual_bins = expected.astype(object), actual.astype(object)
    expected_share = expected_bins.fillna("<missing>").value_counts(normalize=True)
    actual_share = actual_bins.fillna("<missing>").value_counts(normalize=True)
    shares = pd.concat([expected_share, actual_share], axis=1, keys=["e", "a"]).fillna(0.0)
    shares = shares.clip(lower=EMPTY_SHARE)
    return float(((shares["a"] - shares["e"]) * np.log(shares["a"] / shares["e"])).sum())


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """PSI of every column the two feature tables share."""
    return {
        column: round(population_stability_index(reference[column], current[column]), 4)
        for column in reference.columns
        if column in current.columns
    }


def segment_stability(previous: pd.Series, current: pd.Series) -> float:
    """Adjusted Rand index of two labellings over the customers both label (1 = the same
    partition, about 0 = unrelated)."""
    common = previous.index.intersection(current.index)
    if len(common) == 0:
        raise ValueError("segment_stability: the two runs label no customer in common")
    return float(adjusted_rand_score(previous.loc[common], current.loc[common]))


@dataclass(frozen=True)
class Alert:
    check: str
    subject: str
    value: float
    limit: float

    @property
    def message(self) -> str:
        return f"{self.check} of {self.subject} is {self.value:.3f} (limit {self.limit:.3f})"


def drift_alerts(drift: dict[str, float], limit: float = PSI_ALERT) -> list[Alert]:
    """An alert for every feature whose PSI is above ``limit``."""
    return [
        Alert("population stability index", feature, value, limit)
        for feature, value in sorted(drift.items(), key=lambda item: -item[1])
        if value > limit
    ]


def stability_alert(ari: float, model: str, limit: float = ARI_ALERT) -> list[Alert]:
    """An alert when the segments moved more than ``limit`` allows between runs."""
    return [Alert("adjusted Rand index", model, ari, limit)] if ari < limit else []
