"""The demo bank's hidden truth, keyed the way the warehouse keys things.

The generator writes what it simulated (each customer's latent lifecycle stage per month,
the month each customer leaves, the bursts it injected) to ``<data>/demo_bank/truth``; no
pipeline stage reads it. Checks of the marts and the ML labels do, through this module, so
month indexes and timestamps become the warehouse's month starts and dates in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from sources.demo_bank.config import DemoBankConfig, Layout, month_start

# churn_month (an index from the simulation's first month) of customers who never leave.
NEVER = 10_000


@dataclass(frozen=True)
class Truth:
    start: date
    customer_months: pd.DataFrame  # customer_id, month_start (date), latent_stage, engagement
    customers: pd.DataFrame  # indexed by customer_id; churn_start: month start or None
    anomalies: pd.DataFrame  # account_id, customer_id, alert_date (date), kind

    def churned_between(self, after: date, through: date) -> pd.Series:
        """Per customer: whether it leaves in a month after ``after``, up to ``through``."""
        churn = self.customers["churn_start"]
        return churn.map(lambda m: m is not None and after < m <= through)


def read_truth(data_dir: Path) -> Truth:
    """The truth of the demo bank published under ``data_dir``."""
    layout = Layout(Path(data_dir))
    cfg = DemoBankConfig.from_json(layout.read_state()["config"])  # type: ignore[arg-type]
    months = pd.read_parquet(layout.truth / "customer_months.parquet")
    months["month_start"] = pd.to_datetime(months.pop("month")).dt.date
    customers = pd.read_parquet(layout.truth / "customers.parquet").set_index("customer_id")
    customers["churn_start"] = [
        None if index >= NEVER else month_start(cfg.start, int(index))
        for index in customers["churn_month"]
    ]
    anomalies = pd.read_parquet(layout.truth / "anomalies.parquet")
    anomalies["alert_date"] = pd.to_datetime(anomalies.pop("day")).dt.date
    return Truth(cfg.start, months, customers, anomalies)
