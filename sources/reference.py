"""Finance reference data: product catalogue, FTP curve, unit costs, PD/LGD, branches.

The demo bank's finance system delivers these tables; a real extract that lacks them (the
Berka dataset) gets the same documented defaults. Figures are plausible for a Chinese
commercial bank (deposit and loan rates near the published benchmark and LPR levels of
2023-2025) but are defaults, not market data: a bank replaces them with its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    family: str  # deposit | loan | card | wealth | insurance
    category: str  # cross-sell category
    term_months: int | None
    customer_rate: float | None  # annual; deposits pay it, loans charge it


PRODUCTS: tuple[Product, ...] = (
    Product("CURRENT", "活期存款 Current account", "deposit", "current_account", 0, 0.0020),
    Product("SAVINGS", "通知存款 Savings", "deposit", "savings", 1, 0.0080),
    Product("TD3M", "三个月定期 Term deposit 3m", "deposit", "term_deposit", 3, 0.0125),
    Product("TD12M", "一年定期 Term deposit 12m", "deposit", "term_deposit", 12, 0.0165),
    Product("TD36M", "三年定期 Term deposit 36m", "deposit", "term_deposit", 36, 0.0215),
    Product("MORTGAGE", "个人住房贷款 Mortgage", "loan", "mortgage", 240, 0.0410),
    Product("CONSUMER", "个人消费贷款 Consumer loan", "loan", "consumer_loan", 36, 0.0520),
    Product("BUSINESS", "流动资金贷款 Working-capital loan", "loan", "business_loan", 12, 0.0430),
    Product("DEBIT_CARD", "借记卡 Debit card", "card", "debit_card", None, None),
    Product("CREDIT_CARD", "信用卡 Credit card", "card", "credit_card", None, None),
    Product("WM_CASH", "现金管理类理财 Cash management", "wealth", "wealth", None, None),
    Product("WM_BOND", "固收类理财 Fixed income", "wealth", "wealth", None, None),
    Product("WM_EQUITY", "权益类理财 Equity fund", "wealth", "wealth", None, None),
    Product("INS_LIFE", "终身寿险 Whole life", "insurance", "insurance", 12, None),
    Product("INS_HEALTH", "重疾险 Critical illness", "insurance", "insurance", 12, None),
    Product("INS_ANNUITY", "年金险 Annuity", "insurance", "insurance", 12, None),
)

# FTP curve anchor rates by term (months), at the first month of the curve; the whole
# curve then drifts down by about 30 basis points a year, as Chinese rates did.
FTP_TERMS = (0, 1, 3, 6, 12, 24, 36, 60, 240)
FTP_ANCHOR = (0.0180, 0.0190, 0.0205, 0.0215, 0.0230, 0.0255, 0.0270, 0.0300, 0.0335)
FTP_DRIFT_PER_YEAR = -0.0030

UNIT_COSTS: tuple[tuple[str, float, str], ...] = (
    ("branch_visit", 12.00, "a customer served at a branch counter"),
    ("teller_transaction", 8.00, "a transaction keyed by a teller"),
    ("atm_use", 2.50, "a cash withdrawal or deposit at an ATM"),
    ("digital_transaction", 0.10, "a mobile or online banking transaction"),
    ("pos_transaction", 0.05, "a card payment at a point of sale"),
    ("statement", 1.00, "a monthly statement"),
    ("account_maintenance", 1.50, "one account open for one month"),
    ("card_maintenance", 1.00, "one card active for one month"),
    ("rm_contact", 25.00, "a relationship-manager call or visit"),
    ("complaint_handling", 60.00, "one complaint investigated and answered"),
)

# Annual probability of default and loss given default by five-tier loan class.
PD_LGD: tuple[tuple[str, float, float], ...] = (
    ("pass", 0.0080, 0.45),
    ("special_mention", 0.0500, 0.45),
    ("substandard", 0.2500, 0.55),
    ("doubtful", 0.6000, 0.65),
    ("loss", 1.0000, 0.90),
)

FIVE_TIER_BY_DPD: tuple[tuple[int, str], ...] = (
    (0, "pass"),
    (1, "special_mention"),
    (91, "substandard"),
    (181, "doubtful"),
    (361, "loss"),
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
