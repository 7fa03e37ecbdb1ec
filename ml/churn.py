"""Churn probability: gradient boosting on a customer's features, calibrated.

`make_churn_model()` is the estimator every churn caller uses (training, validation on a
time split, scoring): it takes a pandas DataFrame whose columns are numeric or categorical
(object or category dtype), handles missing values and categories it has not seen, and
returns calibrated probabilities from ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from ml.features import closed_months
from warehouse.db import connect

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


class FrameBoostingClassifier(ClassifierMixin, BaseEstimator):
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

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> FrameBoostingClassifier:  # noqa: N803
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
    """An unfitted churn classifier: FrameBoostingClassifier whose probabilities are calibrated on
    held-out folds (isotonic by default; 'sigmoid' for small samples)."""
    return CalibratedClassifierCV(FrameBoostingClassifier(), method=calibration, cv=folds)


# --- training on the marts, validated on a time split -------------------------------------

MODEL_NAME = "churn"
MODEL_VERSION = "0.1.0"
# A customer "churns" when the lifecycle mart marks them churned within this many months
# after the as-of month.
HORIZON_MONTHS = 3
# The latest labelled months held out to validate a model trained on the earlier ones.
VALIDATION_MONTHS = 3
# Stages that can still churn (churned and prospect customers are not scored).
SCORED_STAGES = ("new", "growth", "mature", "decline", "dormant")
FEATURE_COLUMNS = [
    "rule_stage",
    "segment",
    "customer_type",
    "gender",
    "age_years",
    "tenure_months",
    "open_accounts",
    "product_depth",
    "contribution",
    "contribution_t12m",
    "deposit_balance",
    "deposit_avg_balance",
    "deposit_trailing_avg",
    "loan_balance",
    "txns_month",
    "txns_trailing_avg",
    "txns_3m",
    "credits_3m",
    "debits_3m",
    "digital_share_3m",
    "active_months_3m",
    "days_since_last_txn",
    "complaints_12m",
]


def add_months(month: date, count: int) -> date:
    year, index = divmod(month.month - 1 + count, 12)
    return date(month.year + year, index + 1, 1)


def churn_labels(url: str, month: date, horizon: int = HORIZON_MONTHS) -> pd.Series:
    """1 for customers the lifecycle mart marks churned in the ``horizon`` months after
    ``month``; customers absent are 0."""
    with connect(url) as conn:
        rows = conn.execute(
            "select distinct customer_id from marts.mart_customer_lifecycle_monthly"
            " where is_churned_in_month and month_start > %s and month_start <= %s",
            (month, add_months(month, horizon)),
        ).fetchall()
    return pd.Series(1, index=pd.Index([int(r[0]) for r in rows], name="customer_id"))


def scoring_frame(features: pd.DataFrame) -> pd.DataFrame:
    """The customers a churn model scores, with the model's columns."""
    return features.loc[features["rule_stage"].isin(SCORED_STAGES), FEATURE_COLUMNS]


def training_set(
    url: str, months: list[date], read: Callable[[str, date], pd.DataFrame]
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features of each month's scorable customers, whether they churned within the
    horizon, and the month of each row."""
    frames, labels, when = [], [], []
    for month in months:
        frame = scoring_frame(read(url, month))
        churned = churn_labels(url, month)
        frames.append(frame.reset_index(drop=True))
        labels.append(pd.Series(frame.index.isin(churned.index).astype(int)))
        when.append(pd.Series([month] * len(frame)))
    return (
        pd.concat(frames, ignore_index=True),
        pd.concat(labels, ignore_index=True),
        pd.concat(when, ignore_index=True),
    )


@dataclass(frozen=True)
class ChurnValidation:
    train_months: list[date]
    validation_months: list[date]
    rows_train: int
    rows_validation: int
    churn_rate_validation: float
    auc: float
    brier: float
    mean_predicted: float

    def metrics(self) -> dict[str, object]:
        return {
            "auc_time_split": round(self.auc, 4),
            "brier_time_split": round(self.brier, 5),
            "churn_rate_validation": round(self.churn_rate_validation, 5),
            "mean_predicted_validation": round(self.mean_predicted, 5),
            "rows_train": self.rows_train,
            "rows_validation": self.rows_validation,
            "train_months": [m.isoformat() for m in self.train_months],
            "validation_months": [m.isoformat() for m in self.validation_months],
        }


def validate_on_time_split(
    features: pd.DataFrame, labels: pd.Series, months: pd.Series, holdout: int
) -> ChurnValidation:
    """Train on the earlier labelled months, measure on the last ``holdout`` ones."""
    ordered = sorted(months.unique())
    if len(ordered) <= holdout:
        raise ValueError(
            f"churn validation: {len(ordered)} labelled month(s), need more than {holdout}"
        )
    held = ordered[-holdout:]
    train = ~months.isin(held)
    if labels[train].nunique() < 2 or labels[~train].nunique() < 2:
        raise ValueError("churn validation: both sides of the split need churners and stayers")
    model = make_churn_model().fit(features[train], labels[train])
    predicted = model.predict_proba(features[~train])[:, 1]
    actual = labels[~train].to_numpy()
    return ChurnValidation(
        train_months=list(ordered[:-holdout]),
        validation_months=list(held),
        rows_train=int(train.sum()),
        rows_validation=int((~train).sum()),
        churn_rate_validation=float(actual.mean()),
        auc=float(roc_auc_score(actual, predicted)),
        brier=float(brier_score_loss(actual, predicted)),
        mean_predicted=float(predicted.mean()),
    )


def churn_probabilities(
    url: str,
    as_of_month: date,
    read: Callable[[str, date], pd.DataFrame],
    holdout: int = VALIDATION_MONTHS,
) -> tuple[pd.Series, ChurnValidation, tuple[date, date]]:
    """Validate on a time split, refit on every labelled month, and score the customers
    of ``as_of_month``: their probability of churning within the horizon."""
    labelled = [
        m for m in closed_months(url, as_of_month) if add_months(m, HORIZON_MONTHS) <= as_of_month
    ]
    if not labelled:
        raise ValueError(
            f"churn: no month before {as_of_month} has its {HORIZON_MONTHS}-month outcome"
        )
    features, labels, months = training_set(url, labelled, read)
    validation = validate_on_time_split(features, labels, months, holdout)
    model = make_churn_model().fit(features, labels)
    current = scoring_frame(read(url, as_of_month))
    scores = pd.Series(model.predict_proba(current)[:, 1], index=current.index, name="churn")
    return scores, validation, (labelled[0], labelled[-1])
