"""What each customer holds: accounts, loans, cards, wealth products, insurance policies.

Propensities depend on wealth, age and on other holdings, so products meant to go
together (consumer loan and credit card, term deposit and wealth products, mortgage and
life insurance) are held together more often than chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.demo_bank.config import DemoBankConfig
from sources.demo_bank.population import NEVER, Population
from sources.reference import PRODUCTS

RATES = {p.code: p.customer_rate for p in PRODUCTS}
TERMS = {p.code: p.term_months for p in PRODUCTS}
ACCOUNT_TYPE = {
    "CURRENT": "current",
    "SAVINGS": "savings",
    "TD3M": "term_deposit",
    "TD12M": "term_deposit",
    "TD36M": "term_deposit",
    "MORTGAGE": "loan",
    "CONSUMER": "loan",
    "BUSINESS": "loan",
}


def _open_month(rng: np.random.Generator, join_month: np.ndarray, lag_max: int) -> np.ndarray:
    return join_month + rng.integers(0, lag_max + 1, size=len(join_month))


def draw_accounts(cfg: DemoBankConfig, pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """One row per account with its open month/date, close month and static terms."""
    f = pop.frame
    n = pop.n
    wr = f["wealth_rank"].to_numpy()
    age = f["age_years"].to_numpy()
    corp = f["corporate"].to_numpy()
    join = f["join_month"].to_numpy()
    wealth = f["wealth"].to_numpy()
    parts: list[pd.DataFrame] = []

    def add(mask: np.ndarray, product: str, lag: int, principal: np.ndarray | None = None) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": f["customer_id"].to_numpy()[idx],
                    "product_code": product,
                    "open_month": _open_month(rng, join[idx], lag) if lag else join[idx],
                    "principal": None if principal is None else np.round(principal[idx], -2),
                }
            )
        )

    add(np.ones(n, bool), "CURRENT", 0)
    add(rng.random(n) < 0.35 + 0.35 * wr, "SAVINGS", 6)
    has_td = rng.random(n) < np.clip(wr**1.5, 0.05, 0.85)
    td_product = np.array(["TD3M", "TD12M", "TD36M"])[rng.integers(3, size=n)]
    for code in ("TD3M", "TD12M", "TD36M"):
        add(has_td & (td_product == code), code, 9)
    mortgage = (~corp) & (age >= 25) & (age <= 55) & (rng.random(n) < 0.10 + 0.15 * wr)
    add(mortgage, "MORTGAGE", 12, np.clip(wealth * rng.uniform(4, 9, n), 2e5, 5e6))
    consumer = (~corp) & (rng.random(n) < 0.10 + 0.06 * (1 - wr))
    add(consumer, "CONSUMER", 6, np.clip(wealth * rng.uniform(0.3, 1.5, n), 1e4, 3e5))
    business = corp & (rng.random(n) < 0.6)
    add(business, "BUSINESS", 3, np.clip(wealth * rng.uniform(0.5, 2.0, n), 1e5, 5e7))

    accounts = pd.concat(parts, ignore_index=True)
    accounts = accounts.sort_values(
        ["customer_id", "open_month", "product_code"], kind="stable", ignore_index=True
    )
    accounts.insert(0, "account_id", np.arange(100_000_001, 100_000_001 + len(accounts)))
    accounts["account_type"] = accounts["product_code"].map(ACCOUNT_TYPE)
    accounts["term_months"] = (
        accounts["product_code"]
        .map(TERMS)
        .where(accounts["account_type"].isin(["term_deposit", "loan"]))
    )
    accounts["interest_rate"] = accounts["product_code"].map(RATES)
    by_customer = f.set_index("customer_id")
    accounts["branch_code"] = by_customer.loc[accounts["customer_id"], "branch_code"].to_numpy()
    churn = by_customer.loc[accounts["customer_id"], "churn_month"].to_numpy()
    joined = pd.to_datetime(by_customer.loc[accounts["customer_id"], "joined_on"]).to_numpy()
    join_m = by_customer.loc[accounts["customer_id"], "join_month"].to_numpy()
    # Accounts opened after the customer has started to leave are never opened.
    accounts = accounts[accounts["open_month"] < np.minimum(churn, NEVER)].copy()
    keep = accounts.index.to_numpy()
    joined, join_m, churn = joined[keep], join_m[keep], churn[keep]
    lag_days = (accounts["open_month"].to_numpy() - join_m) * 30 + rng.integers(0, 25, len(keep))
    accounts["opened_on"] = (joined + lag_days.astype("timedelta64[D]")).astype("datetime64[D]")
    # Loans end at maturity; everything closes when the customer leaves.
    term = accounts["term_months"].fillna(0).to_numpy().astype(int)
    loan = accounts["account_type"].to_numpy() == "loan"
    matures = np.where(loan, accounts["open_month"].to_numpy() + term, NEVER)
    accounts["close_month"] = np.minimum(churn, matures)
    accounts["maturity_on"] = np.where(
        accounts["account_type"].isin(["term_deposit", "loan"]),
        (accounts["opened_on"].to_numpy() + (term * 30.4375).astype("timedelta64[D]")),
        np.datetime64("NaT"),
    )
    accounts["currency"] = "CNY"
    return accounts.reset_index(drop=True)


def draw_cards(pop: Population, accounts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    f = pop.frame.set_index("customer_id")
    current = accounts[accounts["product_code"] == "CURRENT"]
    consumer_holders = set(accounts.loc[accounts["product_code"] == "CONSUMER", "customer_id"])
    cust = current["customer_id"].to_numpy()
    wr = f.loc[cust, "wealth_rank"].to_numpy()
    has_consumer = np.isin(cust, list(consumer_holders))
    debit = rng.random(len(cust)) < 0.85
    credit = rng.random(len(cust)) < 0.12 + 0.55 * has_consumer + 0.15 * wr
    rows = []
    for mask, kind in ((debit, "debit"), (credit, "credit")):
        idx = np.flatnonzero(mask)
        level = np.where(wr[idx] > 0.9, "platinum", np.where(wr[idx] > 0.6, "gold", "classic"))
        lag = rng.integers(0, 4, len(idx)) if kind == "credit" else np.zeros(len(idx), int)
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": cust[idx],
                    "account_id": current["account_id"].to_numpy()[idx],
                    "card_type": kind,
                    "card_level": level if kind == "credit" else "classic",
                    "open_month": current["open_month"].to_numpy()[idx] + lag,
                    "issued_on": (
                        current["opened_on"].to_numpy()[idx] + (lag * 30).astype("timedelta64[D]")
                    ).astype("datetime64[D]"),
                    "close_month": current["close_month"].to_numpy()[idx],
                    "credit_limit": np.where(
                        kind == "credit",
                        np.round(
                            np.clip(f.loc[cust[idx], "wealth"].to_numpy() * 0.5, 5e3, 2e5), -3
                        ),
                        np.nan,
                    ),
                }
            )
        )
    cards = pd.concat(rows, ignore_index=True).sort_values(
        ["customer_id", "card_type"], kind="stable", ignore_index=True
    )
    cards.insert(0, "card_id", np.arange(6_200_000_001, 6_200_000_001 + len(cards)))
    cards["cardholder_name"] = f.loc[cards["customer_id"], "full_name"].to_numpy()
    cards["expires_on"] = (cards["issued_on"].to_numpy() + np.timedelta64(5 * 365, "D")).astype(
        "datetime64[D]"
    )
    return cards


def draw_wealth_and_insurance(
    pop: Population, accounts: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = pop.frame
    n = pop.n
    wr = f["wealth_rank"].to_numpy()
    age = f["age_years"].to_numpy()
    holders_td = np.isin(
        f["customer_id"], accounts.loc[accounts["account_type"] == "term_deposit", "customer_id"]
    )
    holders_mortgage = np.isin(
        f["customer_id"], accounts.loc[accounts["product_code"] == "MORTGAGE", "customer_id"]
    )
    p_wealth = 1 / (1 + np.exp(-6 * (wr - 0.7))) * np.where(age > 45, 1.2, 0.8)
    p_wealth = np.clip(p_wealth * np.where(holders_td, 1.6, 0.7), 0, 0.95)
    wealth_holder = (rng.random(n) < p_wealth) & ~f["corporate"].to_numpy()
    idx = np.flatnonzero(wealth_holder)
    products = np.array(["WM_CASH", "WM_BOND", "WM_EQUITY"])
    wealth = pd.DataFrame(
        {
            "customer_id": f["customer_id"].to_numpy()[idx],
            "product_code": products[
                np.minimum(rng.integers(0, 3, len(idx)), (wr[idx] > 0.8) * 2 + 1)
            ],
            "open_month": f["join_month"].to_numpy()[idx] + rng.integers(1, 12, len(idx)),
            "share": rng.uniform(0.2, 0.6, len(idx)),
        }
    )
    p_ins = 0.05 + 0.35 * holders_mortgage + 0.12 * (age > 45) * wr
    insured = (rng.random(n) < p_ins) & ~f["corporate"].to_numpy()
    idx = np.flatnonzero(insured)
    kinds = np.where(
        holders_mortgage[idx],
        "INS_LIFE",
        np.array(["INS_HEALTH", "INS_ANNUITY"])[rng.integers(2, size=len(idx))],
    )
    premium = np.round(
        np.clip(f["wealth"].to_numpy()[idx] * rng.uniform(0.02, 0.06, len(idx)), 1500, 60000), -1
    )
    insurance = pd.DataFrame(
        {
            "policy_id": np.arange(880_000_001, 880_000_001 + len(idx)),
            "customer_id": f["customer_id"].to_numpy()[idx],
            "product_code": kinds,
            # From the month after joining: a policy never starts before its customer exists.
            "open_month": f["join_month"].to_numpy()[idx] + rng.integers(1, 18, len(idx)),
            "annual_premium": premium,
            "commission_rate": np.where(kinds == "INS_LIFE", 0.25, 0.15),
            "start_offset_days": rng.integers(0, 28, len(idx)),
        }
    )
    return wealth, insurance
