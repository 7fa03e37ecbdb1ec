"""Customer features as of a month, read from the marts, for every ML model.

One row per customer with a lifecycle row in the as-of month; every value is what the
marts held for that month or earlier (`ml/sql/customer_features.sql`), so a feature table
built for a past month is the same whenever it is built, and a model trained on month m
never sees months after m.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd

from warehouse.db import connect

FEATURES_SQL = Path(__file__).with_name("sql") / "customer_features.sql"

# Columns of the feature table by role.
KEY_COLUMNS = ["customer_id", "as_of_month"]
CATEGORICAL = ["rule_stage", "segment", "branch_code", "customer_type", "gender"]
# Product categories (dbt seed product catalogue) a customer holds at the month's end.
PRODUCTS = [
    "current_account",
    "savings",
    "term_deposit",
    "mortgage",
    "consumer_loan",
    "business_loan",
    "debit_card",
    "credit_card",
    "wealth",
    "insurance",
]
FLAGS = [f"has_{product}" for product in PRODUCTS]


def read_features(url: str, as_of_month: date) -> pd.DataFrame:
    """The feature table of ``as_of_month`` (first day of a closed month), indexed by
    customer; numeric columns as float64, categorical ones as object."""
    if as_of_month.day != 1:
        raise ValueError(f"as_of_month must be the first day of a month, not {as_of_month}")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(FEATURES_SQL.read_text(), {"as_of_month": as_of_month})
        columns = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    numeric = [c for c in frame.columns if c not in KEY_COLUMNS + CATEGORICAL + FLAGS]
    frame[numeric] = frame[numeric].astype("float64")
    frame[FLAGS] = frame[FLAGS].astype(bool)
    frame[CATEGORICAL] = frame[CATEGORICAL].astype(object)
    return frame.set_index("customer_id")


def closed_months(url: str, through: date) -> list[date]:
    """The months the lifecycle mart describes (closed months), up to ``through``."""
    with connect(url) as conn:
        rows = conn.execute(
            "select distinct month_start from marts.mart_customer_lifecycle_monthly"
            " where month_start <= %s order by month_start",
            (through,),
        ).fetchall()
    return [r[0] for r in rows]


def latest_closed_month(url: str, day: date) -> date:
    """The last closed month on or before ``day`` that the lifecycle mart describes."""
    months = closed_months(url, day)
    if not months:
        raise ValueError(f"no closed month on or before {day} in the lifecycle mart")
    return months[-1]


def numeric_features(frame: pd.DataFrame) -> list[str]:
    """The numeric feature columns of a feature table."""
    return [c for c in frame.columns if c not in KEY_COLUMNS + CATEGORICAL + FLAGS]


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a frame's values and index: the same data gives the same fingerprint."""
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:32]
