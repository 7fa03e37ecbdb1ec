"""Wealth-management propensity: a decision tree whose paths read as IF-THEN rules.

`tree_rules` turns each leaf of a fitted scikit-learn decision tree into a rule: the
conditions on the path (tightened to one bound per side and feature), the class the leaf
predicts, its support (share of the training weight reaching the leaf) and confidence
(share of that weight in the predicted class). Relationship managers read these rules in
the reports; the table `ml.propensity_rules` keeps them per model run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier


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
