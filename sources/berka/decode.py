"""Decoders for the Berka codes: birth numbers, dates, Czech transaction codes, loan status.

Every function here is vectorised (numpy arrays or pandas Series in, arrays out) so the
adapter never loops over rows in Python. The mapping tables are module constants so that
MAPPING.md and the tests can quote them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# --- dates --------------------------------------------------------------------------------

EPOCH = np.datetime64("1970-01-01", "D")


def parse_yymmdd(values: pd.Series) -> pd.Series:
    """``YYMMDD`` strings (all 19xx) as datetime64; NaT where the string is no real date."""
    text = "19" + values.astype(str).str.strip()
    return pd.to_datetime(text, format="%Y%m%d", errors="coerce")


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as int64 days since 1970-01-01 (datetime64 input, any unit)."""
    array = np.asarray(values).astype("datetime64[D]")
    return (array - EPOCH).astype(np.int64)


def from_days(days: np.ndarray) -> np.ndarray:
    return EPOCH + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """``days`` (since 1970) plus a number of calendar months, clipped to the month's end.

    31 January + 1 month is 28 (or 29) February, as banks compute instalment and expiry
    dates.
    """
    dates = from_days(days)
    month = dates.astype("datetime64[M]")
    day_of_month = (dates - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    month_length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    result = target.astype("datetime64[D]") + np.minimum(day_of_month, month_length - 1)
    return to_days(result)


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day."""
    return from_days(days).astype("datetime64[M]").astype(np.int64)


def month_start_days(month: np.ndarray) -> np.ndarray:
    """First day (days since 1970) of each month index."""
    return to_days(np.asarray(month, dtype=np.int64).astype("datetime64[M]"))


# --- birth number -------------------------------------------------------------------------


def decode_birth_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Birth date and gender from Berka's ``birth_number`` (``YYMMDD``, women month + 50).

    Returns (birth_date as datetime64 with NaT where the number is no valid date,
    gender ``"F"``/``"M"``).
    """
    text = values.astype(str).str.strip()
    valid_shape = text.str.fullmatch(r"\d{6}").fillna(False).to_numpy(dtype=bool)
    padded = text.where(valid_shape, "000000")
    month = padded.str.slice(2, 4).astype(int).to_numpy()
    female = month > 50
    real_month = np.where(female, month - 50, month)
    rebuilt = (
        padded.str.slice(0, 2)
        + pd.Series(real_month, index=values.index).astype(str).str.zfill(2)
        + padded.str.slice(4, 6)
    )
    birth = parse_yymmdd(rebuilt)
    birth = birth.where(pd.Series(valid_shape, index=values.index))
    gender = pd.Series(np.where(female, "F", "M"), index=values.index)
    return birth, gender


# --- statement frequency ------------------------------------------------------------------

FREQUENCY = {
    "POPLATEK MESICNE": "monthly",
    "POPLATEK TYDNE": "weekly",
    "POPLATEK PO OBRATU": "after_transaction",
}

# --- transactions -------------------------------------------------------------------------

# trans.type -> direction (C credit, D debit); VYBER is a cash withdrawal, a debit.
DIRECTION = {"PRIJEM": "C", "VYDAJ": "D", "VYBER": "D"}

# trans.operation -> (txn_type when k_symbol says nothing more, channel)
OPERATIONS = {
    "VKLAD": ("cash_deposit", "branch"),
    "PREVOD Z UCTU": ("transfer_in", "online"),
    "PREVOD NA UCET": ("transfer_out", "online"),
    "VYBER KARTOU": ("card_withdrawal", "atm"),
    "VYBER": ("cash_withdrawal", "branch"),
    "": ("other", "online"),
}

# k_symbol (purpose of the payment) -> txn_type; it wins over the operation when present.
K_SYMBOLS = {
    "UROK": "interest",
    "SANKC. UROK": "penalty_interest",
    "SLUZBY": "statement_fee",
    "DUCHOD": "pension",
    "POJISTNE": "insurance_premium",
    "SIPO": "household_payment",
    "UVER": "loan_repayment",
    "LEASING": "leasing_payment",
    "": None,
}

# Postings the bank makes itself (interest, penalty interest, statement fee) carry no
# customer channel; the contract has none for them, so they go to the cheapest one.
BANK_POSTINGS = {"UROK", "SANKC. UROK", "SLUZBY"}
BANK_POSTING_CHANNEL = "online"

# k_symbols whose amount is a fee the bank earns (fee_amount = amount).
FEE_K_SYMBOLS = {"SLUZBY"}

# order.k_symbol: permanent orders (only POJISTNE becomes a contract row: insurance).
ORDER_K_SYMBOLS = {"SIPO", "UVER", "POJISTNE", "LEASING", ""}


def transaction_codes(
    type_: pd.Series, operation: pd.Series, k_symbol: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(direction, txn_type, channel, is_fee) for each transaction, vectorised."""
    direction = type_.map(DIRECTION).to_numpy(dtype=object)
    op_type = operation.map({k: v[0] for k, v in OPERATIONS.items()}).to_numpy(dtype=object)
    op_channel = operation.map({k: v[1] for k, v in OPERATIONS.items()}).to_numpy(dtype=object)
    k_type = k_symbol.map({k: v for k, v in K_SYMBOLS.items() if v}).to_numpy(dtype=object)
    txn_type = np.where(pd.isna(k_type), op_type, k_type)
    posting = k_symbol.isin(BANK_POSTINGS).to_numpy(dtype=bool)
    channel = np.where(posting, BANK_POSTING_CHANNEL, op_channel)
    is_fee = k_symbol.isin(FEE_K_SYMBOLS).to_numpy(dtype=bool)
    return direction, txn_type, channel, is_fee


# --- loans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanStatus:
    code: str
    meaning: str
    finished: bool  # the contract has ended (by the end of the Berka data)
    repaid: bool  # no missed payment
    days_past_due: int  # at the as-of date (0 when repaid)


LOAN_STATUS = {
    "A": LoanStatus("A", "contract finished, no problems", True, True, 0),
    "B": LoanStatus("B", "contract finished, loan not paid", True, False, 400),
    "C": LoanStatus("C", "running contract, OK so far", False, True, 0),
    "D": LoanStatus("D", "running contract, client in debt", False, False, 120),
}

# Loan product: a loan is a MORTGAGE when it is both long and large, else CONSUMER.
MORTGAGE_MIN_MONTHS = 48
MORTGAGE_MIN_AMOUNT = 250_000.0


def loan_product(amount: pd.Series, duration: pd.Series) -> np.ndarray:
    mortgage = (duration.to_numpy() >= MORTGAGE_MIN_MONTHS) & (
        amount.to_numpy() >= MORTGAGE_MIN_AMOUNT
    )
    return np.where(mortgage, "MORTGAGE", "CONSUMER")


def nominal_days_past_due(status: pd.Series) -> np.ndarray:
    return status.map({k: v.days_past_due for k, v in LOAN_STATUS.items()}).to_numpy(np.int64)


# --- cards --------------------------------------------------------------------------------

# card.type -> (card_type, card_level): junior cards are debit cards for young clients.
CARD_TYPES = {
    "classic": ("debit", "classic"),
    "junior": ("debit", "classic"),
    "gold": ("credit", "gold"),
}
CARD_YEARS = 3
