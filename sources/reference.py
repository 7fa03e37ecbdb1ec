"""Finance reference data: product catalogue, FTP curve, unit costs, PD/LGD, branches.

The demo bank's finance system delivers these tables; a real extract that lacks them (the
Berka dataset) gets the same documented defaults. Figures are plausible for a Chinese
commercial bank (deposit and loan rates near the published benchmark and LPR levels of
2023-2025) but are defaults, not market data: a bank replaces them with its own.

The defaults have one home, the dbt seeds in ``dbt_project/seeds/`` (documented in
``_seeds.yml``): the warehouse falls back on them for keys a bank does not deliver, and
this module reads the same files, so the demo bank and the Berka adapter deliver exactly
what the seeds say. Branches are not here: each bank has its own network
(``sources/demo_bank/people.py``, ``sources/berka/mapping.py``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"


def _seed_rows(name: str) -> list[dict[str, str]]:
    """The rows of seed ``<name>.csv`` (UTF-8, header line), values as text."""
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _int_or_none(value: str) -> int | None:
    return int(value) if value.strip() else None


def _float_or_none(value: str) -> float | None:
    return float(value) if value.strip() else None


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    family: str  # deposit | loan | card | wealth | insurance
    category: str  # cross-sell category
    term_months: int | None
    customer_rate: float | None  # annual; deposits pay it, loans charge it


# Seed ref_products: the product catalogue with its cross-sell categories.
PRODUCTS: tuple[Product, ...] = tuple(
    Product(
        row["product_code"],
        row["product_name"],
        row["family"],
        row["category"],
        _int_or_none(row["term_months"]),
        _float_or_none(row["customer_rate"]),
    )
    for row in _seed_rows("ref_products")
)

# FTP curve anchor rates by term (months), at the first month of the curve (seed
# ref_ftp_curve, the warehouse's default curve); the demo curve then drifts down by about
# 30 basis points a year, as Chinese rates did.
_FTP_SEED = sorted(
    (int(row["term_months"]), float(row["ftp_rate"])) for row in _seed_rows("ref_ftp_curve")
)
FTP_TERMS: tuple[int, ...] = tuple(term for term, _ in _FTP_SEED)
FTP_ANCHOR: tuple[float, ...] = tuple(rate for _, rate in _FTP_SEED)
FTP_DRIFT_PER_YEAR = -0.0030

# Seed ref_unit_costs: (activity, unit cost, what one unit is).
UNIT_COSTS: tuple[tuple[str, float, str], ...] = tuple(
    (row["activity"], float(row["unit_cost"]), row["description"])
    for row in _seed_rows("ref_unit_costs")
)

# Seed ref_pd_lgd: annual probability of default and loss given default by five-tier class.
PD_LGD: tuple[tuple[str, float, float], ...] = tuple(
    (row["five_tier_class"], float(row["pd_annual"]), float(row["lgd"]))
    for row in _seed_rows("ref_pd_lgd")
)

# Seed ref_five_tier_dpd: lowest days past due of each five-tier class, in ascending order.
FIVE_TIER_BY_DPD: tuple[tuple[int, str], ...] = tuple(
    sorted(
        (int(row["min_days_past_due"]), row["five_tier_class"])
        for row in _seed_rows("ref_five_tier_dpd")
    )
)


def five_tier_class(days_past_due: np.ndarray | int) -> np.ndarray:
    """Five-tier loan class from days past due (the common regulatory mapping)."""
    dpd = np.asarray(days_past_due)
    bounds = np.array([b for b, _ in FIVE_TIER_BY_DPD[1:]])
    names = np.array([n for _, n in FIVE_TIER_BY_DPD])
    return names[np.searchsorted(bounds, dpd, side="right")]


def products_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_code": [p.code for p in PRODUCTS],
            "product_name": [p.name for p in PRODUCTS],
            "family": [p.family for p in PRODUCTS],
            "category": [p.category for p in PRODUCTS],
            "term_months": pd.array([p.term_months for p in PRODUCTS], dtype="Int64"),
            "customer_rate": [p.customer_rate for p in PRODUCTS],
        }
    )


def ftp_curve_frame(first_month: date, months: int) -> pd.DataFrame:
    """The FTP curve for each month from ``first_month``, one row per month and term."""
    rows = []
    for offset in range(months):
        year, month = divmod(first_month.month - 1 + offset, 12)
        curve_month = date(first_month.year + year, month + 1, 1)
        shift = FTP_DRIFT_PER_YEAR * offset / 12
        for term, anchor in zip(FTP_TERMS, FTP_ANCHOR, strict=True):
            rows.append((curve_month, term, round(anchor + shift, 5)))
    return pd.DataFrame(rows, columns=["curve_month", "term_months", "ftp_rate"])


def unit_costs_frame() -> pd.DataFrame:
    return pd.DataFrame(UNIT_COSTS, columns=["activity", "unit_cost", "description"])


def pd_lgd_frame() -> pd.DataFrame:
    return pd.DataFrame(PD_LGD, columns=["five_tier_class", "pd_annual", "lgd"])
