"""Churn probability: gradient boosting on a customer's features, calibrated.

`make_churn_model()` is the estimator every churn caller uses (training, validation on a
time split, scoring): it takes a pandas DataFrame whose columns are numeric or categorical
(object or category dtype), handles missing values and categories it has not seen, and
returns calibrated probabilities from ``predict_proba``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

RANDOM_STATE = 20260101


def _is_categorical(column: pd.Series) -> bool:
    return (
        isinstance(column.dtype, pd.CategoricalDtype)
        or column.dtype == object
        or (
            pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_numeric_dtype(column)
        )
    )


def _category_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as strings (one encoder for mixed types), missing ones as None."""
    values = frame.astype(object)
    return values.astype(str).where(values.notna(), None)


class ChurnBoosting(ClassifierMixin, BaseEstimator):
    """Histogram gradient boosting that reads a DataFrame as it comes: categorical columns
    are encoded (unseen or missing categories become missing) and split on as categories,
    numeric ones are used as they are (missing values allowed)."""

    def __init__(
        self,
        learning_rate: float = 0.05,
        max_iter: int = 300,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        random_state: int = RANDOM_STATE,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise ValueError(f"churn model: columns missing from the input: {missing}")
        parts = []
        if self.categorical_:
            parts.append(self.encoder_.transform(_category_labels(frame[self.categorical_])))
        if self.numeric_:
            parts.append(frame[self.numeric_].to_numpy(dtype=float))
        return np.hstack(parts)

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> ChurnBoosting:  # noqa: N803
        if not isinstance(X, pd.DataFrame):
            raise TypeError("churn model: X must be a pandas DataFrame")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.categorical_ = [str(c) for c in X.columns if _is_categorical(X[c])]
        self.numeric_ = [str(c) for c in X.columns if str(c) not in self.categorical_]
        self.encoder_ = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )
        if self.categorical_:
            self.encoder_.fit(_category_labels(X[self.categorical_]))
        self.model_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=[True] * len(self.categorical_) + [False] * len(self.numeric_),
            early_stopping=False,
            random_state=self.random_state,
        )
        self.model_.fit(self._matrix(X), np.asarray(y), sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._matrix(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_churn_model(calibration: str = "isotonic", folds: int = 3) -> CalibratedClassifierCV:
    """An unfitted churn classifier: ChurnBoosting whose probabilities are calibrated on
    held-out folds (isotonic by default; 'sigmoid' for small samples)."""
    return CalibratedClassifierCV(ChurnBoosting(), method=calibration, cv=folds)
