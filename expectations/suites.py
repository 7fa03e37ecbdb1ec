"""Suites as code: each names its table and builds its expectations.

Suites are plain data here so they can be reviewed in a diff and unit-tested without a
database; the runner turns them into GX objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Expect:
    """One expectation: a GX class name and its arguments."""

    kind: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Suite:
    name: str
    schema: str
    table: str
    expectations: tuple[Expect, ...]

    @property
    def target(self) -> str:
        return f"{self.schema}.{self.table}"


def _mart_customer_balances() -> Suite:
    return Suite(
        name="mart_customer_balances",
        schema="marts",
        table="mart_customer_balances",
        expectations=(
            Expect("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "customer_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "customer_id"}),
            # Overdrawn current accounts make some deposit balances negative (Berka has
            # them); most customers' are not.
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "deposit_balance", "min_value": 0, "mostly": 0.9},
            ),
            Expect("ExpectColumnValuesToBeBetween", {"column": "loan_balance", "min_value": 0}),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "n_accounts", "min_value": 0, "max_value": 100},
            ),
            Expect("ExpectColumnValuesToBeInSet", {"column": "gender", "value_set": ["F", "M"]}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "branch_code"}),
        ),
    )


SUITES: dict[str, Callable[[], Suite]] = {
    "mart_customer_balances": _mart_customer_balances,
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]()
    except KeyError:
        raise KeyError(f"no expectation suite {name!r}; known: {sorted(SUITES)}") from None
