"""The key-account mart checked against the demo bank generator's hidden truth.

The generator gives each customer a latent wealth that drives its deposits, flows and so
its contribution; key accounts (the customers making the top 80% of positive
trailing-12-month contribution) must come from the top of that wealth, far above chance.
Plain functions, called by the end-to-end pipeline test on its own warehouse.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg

TOP_SHARE = 0.2  # the top fifth of customers by latent wealth


def measure_value(warehouse_url: str, truth_dir: Path) -> dict[str, float]:
    """Where the latest month's key accounts sit in the generator's wealth ranking."""
    truth = pd.read_parquet(Path(truth_dir) / "customers.parquet")[["customer_id", "wealth"]]
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(
            "select customer_id, is_key_account from marts.mart_key_accounts"
            " where month_start = (select max(month_start) from marts.mart_key_accounts)"
        ).fetchall()
    marts = pd.DataFrame(rows, columns=["customer_id", "is_key_account"])
    merged = marts.merge(truth, on="customer_id", how="inner")
    merged["wealth_percentile"] = merged["wealth"].rank(pct=True)
    key = merged[merged["is_key_account"]]
    return {
        "customers": float(len(merged)),
        "key_accounts": float(len(key)),
        "key_in_top_wealth_share": float((key["wealth_percentile"] > 1 - TOP_SHARE).mean()),
        "key_median_wealth_percentile": float(key["wealth_percentile"].median()),
    }


def assert_value_found(figures: dict) -> None:
    """Key accounts are the top-value customers: most of them in the top wealth fifth."""
    assert figures["customers"] >= 100, figures
    assert 1 <= figures["key_accounts"] <= figures["customers"] / 2, figures
    assert figures["key_in_top_wealth_share"] >= 3 * TOP_SHARE, figures
    assert figures["key_median_wealth_percentile"] >= 0.8, figures
