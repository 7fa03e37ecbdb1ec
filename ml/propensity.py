"""Wealth-management propensity: a decision tree whose paths read as IF-THEN rules.

`tree_rules` turns each leaf of a fitted scikit-learn decision tree into a rule: the
conditions on the path (tightened to one bound per side and feature), the class the leaf
predicts, its support (share of the training weight reaching the leaf) and confidence
(share of that weight in the predicted class). Relationship managers read these rules in
the reports; the table `ml.propensity_rules` keeps them per model run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from psycopg.types.json import Jsonb
from sklearn.tree import DecisionTreeClassifier

from warehouse.log import get_logger

log = get_logger("ml.propensity")


@dataclass(frozen=True)
class Condition:
    feature: str
    operator: str  # "<=" or ">"
    threshold: float

    def __str__(self) -> str:
        return f"{self.feature} {self.operator} {_number(self.threshold)}"


@dataclass(frozen=True)
class Rule:
    conditions: tuple[Condition, ...]
    prediction: Any
    support: float
    confidence: float
    samples: int
    leaf: int
    class_shares: dict[Any, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        premise = " AND ".join(str(c) for c in self.conditions) or "always"
        return (
            f"IF {premise} THEN {self.prediction} "
            f"(support {self.support:.1%}, confidence {self.confidence:.1%})"
        )

    def __str__(self) -> str:
        return self.text


def _number(value: float) -> str:
    """Thresholds as people write them: 2,500.5 rather than 2500.4999999."""
    if abs(value) >= 100:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:.4g}"


def _tighten(conditions: list[Condition]) -> tuple[Condition, ...]:
    """One upper and one lower bound per feature, in the order features first appear."""
    upper: dict[str, float] = {}
    lower: dict[str, float] = {}
    order: list[str] = []
    for condition in conditions:
        if condition.feature not in order:
            order.append(condition.feature)
        if condition.operator == "<=":
            upper[condition.feature] = min(
                upper.get(condition.feature, np.inf), condition.threshold
            )
        else:
            lower[condition.feature] = max(
                lower.get(condition.feature, -np.inf), condition.threshold
            )
    tightened: list[Condition] = []
    for name in order:
        if name in lower:
            tightened.append(Condition(name, ">", lower[name]))
        if name in upper:
            tightened.append(Condition(name, "<=", upper[name]))
    return tuple(tightened)


def tree_rules(tree: DecisionTreeClassifier, feature_names: list[str]) -> list[Rule]:
    """The rules of a fitted decision tree, one per leaf, most supported first."""
    structure = getattr(tree, "tree_", None)
    if structure is None:
        raise ValueError("tree_rules needs a fitted DecisionTreeClassifier")
    names = list(feature_names)
    if len(names) != structure.n_features:
        raise ValueError(
            f"tree_rules: {len(names)} feature names for a tree of {structure.n_features} features"
        )
    total_weight = float(structure.weighted_n_node_samples[0])
    rules: list[Rule] = []
    stack: list[tuple[int, list[Condition]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:  # a leaf
            shares = np.asarray(structure.value[node][0], dtype=float)
            shares = shares / shares.sum()
            best = int(np.argmax(shares))
            rules.append(
                Rule(
                    conditions=_tighten(path),
                    prediction=tree.classes_[best].item()
                    if hasattr(tree.classes_[best], "item")
                    else tree.classes_[best],
                    support=float(structure.weighted_n_node_samples[node]) / total_weight,
                    confidence=float(shares[best]),
                    samples=int(structure.n_node_samples[node]),
                    leaf=int(node),
                    class_shares={
                        (c.item() if hasattr(c, "item") else c): float(s)
                        for c, s in zip(tree.classes_, shares, strict=True)
                    },
                )
            )
            continue
        feature = names[structure.feature[node]]
        threshold = float(structure.threshold[node])
        stack.append((right, [*path, Condition(feature, ">", threshold)]))
        stack.append((left, [*path, Condition(feature, "<=", threshold)]))
    rules.sort(key=lambda rule: (-rule.support, -rule.confidence, rule.leaf))
    return rules


# --- wealth-management propensity and the model-based next-best product ------------------

MODEL_NAME = "propensity"
MODEL_VERSION = "0.1.0"
WEALTH_TARGET = "has_wealth"
# The tree's class (and rule prediction) for holders of wealth products.
WEALTH_CLASS = "wealth customer"
# What the bank knows of a customer that does not already say "holds wealth products".
WEALTH_FEATURES = [
    "age_years",
    "tenure_months",
    "open_accounts",
    "deposit_balance",
    "deposit_avg_balance",
    "deposit_trailing_avg",
    "loan_balance",
    "contribution_t12m",
    "txns_3m",
    "credits_3m",
    "digital_share_3m",
]
TREE_MAX_DEPTH = 4
# Leaves hold at least this share of the customers (and 20): rules worth reading.
TREE_MIN_LEAF_SHARE = 0.02
# A product is offered only when the model has this many holders and non-holders to learn.
MIN_CLASS_SIZE = 10
CV_FOLDS = 3


@dataclass(frozen=True)
class PropensityRun:
    model_run_id: int
    as_of_month: date
    rows_scored: int
    rules: list[Rule]
    wealth_auc: float
    next_best: dict[str, int]


def wealth_tree(features: pd.DataFrame) -> tuple[DecisionTreeClassifier, float]:
    """The entropy tree predicting wealth holders, and its cross-validated AUC."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    inputs = features[WEALTH_FEATURES].fillna(0.0)
    target = features[WEALTH_TARGET].map({True: WEALTH_CLASS, False: "not yet"})
    tree = DecisionTreeClassifier(
        criterion="entropy",
        max_depth=TREE_MAX_DEPTH,
        min_samples_leaf=max(20, int(TREE_MIN_LEAF_SHARE * len(inputs))),
        random_state=0,
    )
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    auc = float(cross_val_score(tree, inputs, target, cv=folds, scoring="roc_auc").mean())
    return tree.fit(inputs, target), auc


def next_best_products(features: pd.DataFrame) -> pd.DataFrame:
    """For each customer, the product category not held that a model of holders like them
    finds most likely (out-of-fold probabilities: no customer is scored by a model that
    learnt from them), with that probability."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ml.churn import FrameBoostingClassifier
    from ml.features import PRODUCTS

    numeric = features[WEALTH_FEATURES]
    scores = pd.DataFrame(index=features.index)
    for product in PRODUCTS:
        target = features[f"has_{product}"].astype(int)
        if min(target.sum(), (1 - target).sum()) < MIN_CLASS_SIZE:
            continue
        others = features[[f"has_{p}" for p in PRODUCTS if p != product]].astype(float)
        inputs = pd.concat([numeric, others], axis=1)
        model = FrameBoostingClassifier(max_iter=100)
        folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
        probability = cross_val_predict(model, inputs, target, cv=folds, method="predict_proba")
        scores[product] = np.where(target == 1, np.nan, probability[:, 1])
    offered = scores.notna().any(axis=1) if not scores.empty else pd.Series(False, scores.index)
    best = pd.Series(pd.NA, index=features.index, dtype=object)
    if offered.any():
        filled = scores.loc[offered].fillna(-1.0)
        best.loc[offered] = filled.columns.to_numpy()[np.argmax(filled.to_numpy(), axis=1)]
    return pd.DataFrame(
        {"next_best_product": best, "next_best_confidence": scores.max(axis=1, skipna=True)},
        index=features.index,
    )


def label_propensity(
    url: str,
    as_of_month: date,
    read: Callable[[str, date], pd.DataFrame] | None = None,
) -> PropensityRun:
    """Fit the wealth tree on ``as_of_month``'s customers, store its rules, and write each
    customer's wealth propensity (the wealth share of their leaf), the rule they fall
    under and their next-best product."""
    from ml.features import fingerprint, read_features
    from ml.writeback import finish_run, replace_labels, start_run
    from warehouse.db import connect

    features = (read or read_features)(url, as_of_month)
    holders = int(features[WEALTH_TARGET].sum())
    metrics: dict[str, object] = {"wealth_holders": holders}
    rules: list[Rule] = []
    auc = float("nan")
    propensity = np.full(len(features), np.nan)
    leaves = np.full(len(features), -1)
    if min(holders, len(features) - holders) >= MIN_CLASS_SIZE:
        tree, auc = wealth_tree(features)
        rules = tree_rules(tree, WEALTH_FEATURES)
        inputs = features[WEALTH_FEATURES].fillna(0.0)
        wealth_column = list(tree.classes_).index(WEALTH_CLASS)
        propensity = tree.predict_proba(inputs)[:, wealth_column]
        leaves = tree.apply(inputs)
        metrics["wealth_tree_auc_cv"] = round(auc, 4)
    else:
        # A bank that sells no wealth products (Berka) has nobody to learn from.
        metrics["wealth_tree"] = f"skipped: {holders} of {len(features)} customers hold wealth"
        log.warning("propensity %s: %s", as_of_month, metrics["wealth_tree"])
    rule_of_leaf = {rule.leaf: number for number, rule in enumerate(rules, start=1)}
    offers = next_best_products(features)
    counts = offers["next_best_product"].value_counts().to_dict()
    metrics["rules"] = len(rules)
    metrics["next_best_products"] = {str(k): int(v) for k, v in counts.items()}
    params = {
        "wealth_features": WEALTH_FEATURES,
        "criterion": "entropy",
        "max_depth": TREE_MAX_DEPTH,
        "min_leaf_share": TREE_MIN_LEAF_SHARE,
        "next_best": "gradient boosting per product category, out-of-fold",
        "cv_folds": CV_FOLDS,
    }
    with connect(url) as conn, conn.transaction():
        run_id = start_run(
            conn, MODEL_NAME, MODEL_VERSION, as_of_month, params, fingerprint(features)
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into ml.propensity_rules (model_run_id, rule_id, as_of_month,"
                " model_version, rule_text, conditions, prediction, rule_support, confidence,"
                " samples) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        run_id,
                        number,
                        as_of_month,
                        MODEL_VERSION,
                        rule.text,
                        Jsonb([c.__dict__ for c in rule.conditions]),
                        str(rule.prediction),
                        rule.support,
                        rule.confidence,
                        rule.samples,
                    )
                    for number, rule in enumerate(rules, start=1)
                ],
            )
        replace_labels(
            conn,
            "customer_propensity",
            [
                "customer_id",
                "as_of_month",
                "model_version",
                "wealth_propensity",
                "wealth_rule_id",
                "next_best_product",
                "next_best_confidence",
                "model_run_id",
            ],
            (
                (
                    int(customer_id),
                    as_of_month,
                    MODEL_VERSION,
                    None if np.isnan(score) else float(score),
                    rule_of_leaf.get(int(leaf)),
                    None if pd.isna(offer.next_best_product) else str(offer.next_best_product),
                    None
                    if pd.isna(offer.next_best_confidence)
                    else float(offer.next_best_confidence),
                    run_id,
                )
                for customer_id, score, leaf, offer in zip(
                    features.index, propensity, leaves, offers.itertuples(), strict=True
                )
            ),
            as_of_month,
            MODEL_VERSION,
        )
        finish_run(conn, run_id, metrics, len(features))
    return PropensityRun(
        run_id, as_of_month, len(features), rules, auc, metrics["next_best_products"]
    )
