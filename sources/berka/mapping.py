"""Berka tables mapped onto the project's source contract (``ingest/config/*.yml``).

Each ``*_frame`` function returns a DataFrame with exactly the contract's columns, in the
contract's order, sorted by its primary key, with dates and timestamps already as text
(``YYYY-MM-DD``; ``YYYY-MM-DDTHH:MM:SS+00:00``) and money computed in integer cents
(floats of whole cents for COPY, ``1234.50`` text for CSV), so output is deterministic.
The choices are listed in MAPPING.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pandas as pd

from ingest.config import load_contract
from sources import reference
from sources.berka import decode
from sources.berka.ledger import monthly_balances, order_within_day
from sources.berka.reader import BerkaExtract

CURRENCY = "CZK"
LOAN_ACCOUNT_OFFSET = 10_000_000
HEAD_OFFICE = "HO"
INSURANCE_PRODUCT = "INS_LIFE"
INSURANCE_TERM_MONTHS = 12
INSURANCE_COMMISSION_RATE = 0.15
BALANCES_AT = 2 * 3600  # seconds after midnight UTC of the next day
LOAN_STATUS_AT = 3 * 3600
_PRODUCT_RATES = {p.code: p.customer_rate for p in reference.PRODUCTS}


@cache
def _contract(system: str) -> dict:
    return load_contract(system)


def contract_columns(system: str, entity: str) -> list[str]:
    return _contract(system)[entity].column_names


# --- formatting helpers -------------------------------------------------------------------


def date_text(days: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Days since 1970 as ``YYYY-MM-DD`` text; None where ``missing``."""
    text = np.datetime_as_string(decode.from_days(days), unit="D").astype(object)
    if missing is not None:
        text = np.where(np.asarray(missing, dtype=bool), None, text)
    return pd.Series(text, dtype=object)


def timestamp_text(seconds: np.ndarray) -> pd.Series:
    """Seconds since 1970 (UTC) as ISO 8601 text with an explicit UTC offset."""
    stamps = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    return pd.Series(np.datetime_as_string(stamps, unit="s"), dtype=object) + "+00:00"


def day_timestamp(days: np.ndarray, seconds: np.ndarray | int = 0) -> pd.Series:
    return timestamp_text(np.asarray(days, dtype=np.int64) * 86_400 + seconds)


def cents(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


def money(cents_: np.ndarray) -> np.ndarray:
    """Whole cents as floats (their shortest repr is the two-decimal amount)."""
    return np.asarray(cents_, dtype=np.int64) / 100


def money_text(cents_: np.ndarray) -> pd.Series:
    """Whole cents as ``1234.50`` text (for CSV files)."""
    c = pd.Series(np.asarray(cents_, dtype=np.int64))
    sign = np.where(c < 0, "-", "")
    magnitude = c.abs()
    return sign + (magnitude // 100).astype(str) + "." + (magnitude % 100).astype(str).str.zfill(2)


def branch_codes(district_id: pd.Series | np.ndarray) -> np.ndarray:
    return np.char.add("D", np.char.zfill(np.asarray(district_id).astype(str), 2))


# --- the extract's time frame -------------------------------------------------------------


def extract_as_of(extract: BerkaExtract, as_of: date | None = None) -> int:
    """End of the data (days since 1970): the last transaction day unless given."""
    last = extract.trans["date"].max() if len(extract.trans) else pd.NaT
    if pd.isna(last):
        last = pd.concat([extract.account["date"], extract.loan["date"]]).max()
    last_day = int(decode.to_days(np.array([last]))[0])
    if as_of is None:
        return last_day
    wanted = int(decode.to_days(np.array([np.datetime64(as_of)]))[0])
    if wanted < last_day:
        raise ValueError(
            f"as_of {as_of} is before the last transaction "
            f"({decode.from_days(np.array([last_day]))[0]}): the extract would not fit"
        )
    return wanted


def data_months(extract: BerkaExtract, as_of: int) -> tuple[date, int]:
    """First month and number of months covering every date in the extract and as_of."""
    days = [decode.to_days(extract.account["date"]), np.array([as_of])]
    for frame, column in (
        (extract.trans, "date"),
        (extract.loan, "date"),
        (extract.card, "issued"),
    ):
        if len(frame):
            days.append(decode.to_days(frame[column]))
    all_days = np.concatenate(days)
    first, last = decode.month_index(all_days).min(), decode.month_index(all_days).max()
    first_date = pd.Timestamp(np.datetime64(int(first), "M")).date()
    return first_date, int(last - first + 1)


# --- reference ----------------------------------------------------------------------------


def branches_frame(district: pd.DataFrame) -> pd.DataFrame:
    """Head office, one region per A3 value, one branch per district (A1, named A2)."""
    d = district.rename(
        columns={"A1": "district_id", "A2": "name", "A3": "region", "A4": "inhabitants"}
    )
    d = d.sort_values("district_id", ignore_index=True)
    seat = d.sort_values(["inhabitants", "district_id"], ascending=[False, True])
    head = seat.iloc[0]
    regions = d.groupby("region", sort=False)["district_id"].min().sort_values().index.tolist()
    region_code = {r: f"R{i:02d}" for i, r in enumerate(regions, start=1)}
    region_seat = seat.drop_duplicates("region").set_index("region")["name"]
    rows = [(HEAD_OFFICE, "Berka head office", head["name"], head["region"], None, "head_office")]
    rows += [
        (region_code[r], f"{r} region", region_seat[r], r, HEAD_OFFICE, "region") for r in regions
    ]
    branches = pd.DataFrame(
        {
            "branch_code": branch_codes(d["district_id"]),
            "branch_name": d["name"] + " branch",
            "city": d["name"],
            "region": d["region"],
            "parent_code": d["region"].map(region_code),
            "level": "branch",
        }
    )
    frame = pd.concat([pd.DataFrame(rows, columns=branches.columns), branches], ignore_index=True)
    return frame[contract_columns("reference", "branches")]


def reference_frames(extract: BerkaExtract, as_of: int) -> dict[str, pd.DataFrame]:
    first_month, months = data_months(extract, as_of)
    frames = {
        "products": reference.products_frame(),
        "ftp_curve": reference.ftp_curve_frame(first_month, months),
        "unit_costs": reference.unit_costs_frame(),
        "pd_lgd": reference.pd_lgd_frame(),
        "branches": branches_frame(extract.district),
    }
    out = {}
    for name, frame in frames.items():
        frame = frame[contract_columns("reference", name)].copy()
        if name == "ftp_curve":
            frame["curve_month"] = frame["curve_month"].astype(str)
        out[name] = frame
    return out


# --- core banking -------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreFrames:
    customers: pd.DataFrame
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    balances: pd.DataFrame
    loan_status: pd.DataFrame


def _owners(extract: BerkaExtract) -> pd.Series:
    """Owner client_id by Berka account_id."""
    disp = extract.disp
    owners = disp[disp["type"] == "OWNER"]
    return owners.set_index("account_id")["client_id"]


def transactions_frame(trans: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """core.transactions rows, and the end-of-day balance events of every account-day."""
    direction, txn_type, channel, is_fee = decode.transaction_codes(
        trans["type"], trans["operation"], trans["k_symbol"]
    )
    amount = cents(trans["amount"])
    after = cents(trans["balance"])
    signed = np.where(direction == "C", amount, -amount)
    account = trans["account_id"].to_numpy(np.int64)
    day = decode.to_days(trans["date"])
    trans_id = trans["trans_id"].to_numpy(np.int64)
    position = order_within_day(account, day, trans_id, after - signed, after)
    stamp = timestamp_text(day * 86_400 + position)
    frame = pd.DataFrame(
        {
            "txn_id": trans_id,
            "account_id": account,
            "txn_ts": stamp,
            "channel": channel,
            "txn_type": txn_type,
            "direction": direction,
            "amount": money(amount),
            "fee_amount": money(np.where(is_fee, amount, 0)),
            "balance_after": money(after),
            "counterparty_bank": trans["bank"].to_numpy(dtype=object),
            "counterparty_account": trans["account"].to_numpy(dtype=object),
            "cross_border": False,
            "updated_at": stamp,
        }
    )
    frame = frame.sort_values("txn_id", ignore_index=True)
    # end of day: the last transaction of each account-day in posting order
    order = np.lexsort((position, day, account))
    acc_o, day_o = account[order], day[order]
    last = np.r_[(acc_o[1:] != acc_o[:-1]) | (day_o[1:] != day_o[:-1]), True]
    events = pd.DataFrame(
        {"account_id": acc_o[last], "day": day_o[last], "balance": after[order][last]}
    )
    return frame[contract_columns("core_banking", "transactions")], events


@dataclass(frozen=True)
class LoanPlan:
    """Per loan: account id, days, status flags and the delinquency start."""

    frame: pd.DataFrame  # one row per loan, columns below
    events: pd.DataFrame  # account_id, day, balance (cents) of the repayment schedule


def loan_plan(loan: pd.DataFrame, as_of: int) -> LoanPlan:
    status = loan["status"]
    start = decode.to_days(loan["date"])
    duration = loan["duration"].to_numpy(np.int64)
    amount = cents(loan["amount"])
    payment = cents(loan["payments"])
    maturity = decode.add_months(start, duration)
    first_due = decode.add_months(start, 1)
    repaid = status.map({k: v.repaid for k, v in decode.LOAN_STATUS.items()}).to_numpy(bool)
    nominal = decode.nominal_days_past_due(status)
    delinquent_from = np.clip(as_of - nominal, first_due, np.maximum(first_due, maturity))
    never = np.iinfo(np.int64).max // 4
    delinquent_from = np.where(repaid, never, delinquent_from)
    closed = repaid & (maturity <= as_of)
    account_id = LOAN_ACCOUNT_OFFSET + loan["loan_id"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "account_id": account_id,
            "loan_id": loan["loan_id"].to_numpy(np.int64),
            "berka_account_id": loan["account_id"].to_numpy(np.int64),
            "start": start,
            "maturity": maturity,
            "duration": duration,
            "amount": amount,
            "payment": payment,
            "repaid": repaid,
            "closed": closed,
            "last_day": np.where(closed, maturity, as_of),
            "delinquent_from": delinquent_from,
            "product_code": decode.loan_product(loan["amount"], loan["duration"]),
        }
    )
    # repayment events: instalment k falls due start + k months and is paid on that day
    # unless it falls due on or after the delinquency start
    which = np.repeat(np.arange(len(loan)), duration)
    k = np.arange(len(which)) - np.repeat(np.cumsum(duration) - duration, duration) + 1
    due = decode.add_months(start[which], k)
    left = np.where(k >= duration[which], 0, np.maximum(amount[which] - k * payment[which], 0))
    paid = (due < delinquent_from[which]) & (due <= as_of)
    events = pd.concat(
        [
            pd.DataFrame({"account_id": account_id, "day": start, "balance": amount}),
            pd.DataFrame(
                {"account_id": account_id[which][paid], "day": due[paid], "balance": left[paid]}
            ),
        ],
        ignore_index=True,
    )
    return LoanPlan(frame, events)


def core_frames(extract: BerkaExtract, as_of: int) -> CoreFrames:
    owners = _owners(extract)
    district_name = extract.district.set_index("A1")["A2"]
    account = extract.account.sort_values("account_id", ignore_index=True)
    open_day = decode.to_days(account["date"])
    current = pd.DataFrame(
        {
            "account_id": account["account_id"].to_numpy(np.int64),
            "customer_id": account["account_id"].map(owners).to_numpy(np.int64),
            "product_code": "CURRENT",
            "account_type": "current",
            "currency": CURRENCY,
            "branch_code": branch_codes(account["district_id"]),
            "opened_on": date_text(open_day),
            "term_months": pd.array([None] * len(account), dtype="Int64"),
            "maturity_on": None,
            "interest_rate": _PRODUCT_RATES["CURRENT"],
            "principal": np.nan,
            "status": "open",
            "closed_on": None,
            "updated_at": day_timestamp(open_day),
        }
    )
    plan = loan_plan(extract.loan, as_of)
    lp = plan.frame
    berka_branch = pd.Series(current["branch_code"].to_numpy(), index=current["account_id"])
    loans = pd.DataFrame(
        {
            "account_id": lp["account_id"],
            "customer_id": lp["berka_account_id"].map(owners).to_numpy(np.int64),
            "product_code": lp["product_code"],
            "account_type": "loan",
            "currency": CURRENCY,
            "branch_code": lp["berka_account_id"].map(berka_branch).to_numpy(),
            "opened_on": date_text(lp["start"].to_numpy()),
            "term_months": pd.array(lp["duration"], dtype="Int64"),
            "maturity_on": date_text(lp["maturity"].to_numpy()),
            "interest_rate": lp["product_code"].map(_PRODUCT_RATES).to_numpy(np.float64),
            "principal": money(lp["amount"].to_numpy()),
            "status": np.where(lp["closed"], "closed", "open"),
            "closed_on": date_text(lp["maturity"].to_numpy(), missing=~lp["closed"].to_numpy()),
            "updated_at": day_timestamp(np.where(lp["closed"], lp["maturity"], lp["start"])),
        }
    )
    accounts = pd.concat([current, loans], ignore_index=True).sort_values(
        "account_id", ignore_index=True
    )

    # customers: every client who owns an account
    owned = pd.DataFrame(
        {
            "customer_id": np.concatenate([current["customer_id"], loans["customer_id"]]),
            "opened": np.concatenate([open_day, lp["start"].to_numpy()]),
            "closed": np.concatenate([np.zeros(len(current), bool), lp["closed"].to_numpy()]),
            "closed_day": np.concatenate(
                [np.zeros(len(current), np.int64), lp["maturity"].to_numpy()]
            ),
        }
    )
    first_current = pd.Series(open_day).groupby(current["customer_id"].to_numpy()).min()
    every_closed = owned.groupby("customer_id")["closed"].all()
    last_closed = owned.groupby("customer_id")["closed_day"].max()
    client = extract.client.set_index("client_id").loc[first_current.index]
    ids = first_current.index.to_numpy(np.int64)
    is_closed = every_closed.loc[ids].to_numpy()
    joined = first_current.to_numpy(np.int64)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_type": "individual",
            "full_name": np.char.add("Berka client ", ids.astype(str)),
            "national_id": None,
            "mobile": None,
            "gender": client["gender"].to_numpy(),
            "birth_date": date_text(decode.to_days(client["birth_date"])),
            "city": client["district_id"].map(district_name).to_numpy(),
            "address": None,
            "occupation": None,
            "branch_code": branch_codes(client["district_id"]),
            "joined_on": date_text(joined),
            "status": np.where(is_closed, "closed", "active"),
            "closed_on": date_text(last_closed.loc[ids].to_numpy(), missing=~is_closed),
            "updated_at": day_timestamp(np.where(is_closed, last_closed.loc[ids], joined)),
        }
    )

    transactions, events = transactions_frame(extract.trans)

    # balances: current accounts from their end-of-day balances, loans from the schedule
    monthly = monthly_balances(
        np.concatenate([events["account_id"], plan.events["account_id"]]).astype(np.int64),
        np.concatenate([events["day"], plan.events["day"]]).astype(np.int64),
        np.concatenate([events["balance"], plan.events["balance"]]).astype(np.int64),
        np.concatenate([current["account_id"], lp["account_id"]]).astype(np.int64),
        np.concatenate([open_day, lp["start"]]).astype(np.int64),
        np.concatenate([np.full(len(current), as_of), lp["last_day"]]).astype(np.int64),
    )
    monthly = monthly.sort_values(["account_id", "month"], ignore_index=True)
    # month-end processing: the night after the month's last covered day (as the demo bank)
    after = monthly["last_day"].to_numpy() + 1
    stamp = day_timestamp(after, BALANCES_AT)
    balances = pd.DataFrame(
        {
            "account_id": monthly["account_id"],
            "balance_month": date_text(monthly["month"].to_numpy()),
            "avg_balance": money(monthly["avg_cents"].to_numpy()),
            "end_balance": money(monthly["end_cents"].to_numpy()),
            "days": monthly["days"],
            "updated_at": stamp,
        }
    )
    is_loan = monthly["account_id"].to_numpy() >= LOAN_ACCOUNT_OFFSET
    loan_rows = monthly[is_loan]
    delinquent_from = lp.set_index("account_id")["delinquent_from"]
    since = loan_rows["account_id"].map(delinquent_from).to_numpy(np.int64)
    dpd = np.maximum(loan_rows["last_day"].to_numpy() - since, 0)
    loan_status = pd.DataFrame(
        {
            "account_id": loan_rows["account_id"].to_numpy(),
            "status_month": date_text(loan_rows["month"].to_numpy()),
            "outstanding": money(loan_rows["end_cents"].to_numpy()),
            "days_past_due": dpd,
            "five_tier_class": reference.five_tier_class(dpd),
            "updated_at": day_timestamp(after[is_loan], LOAN_STATUS_AT).to_numpy(),
        }
    )
    return CoreFrames(
        customers=customers[contract_columns("core_banking", "customers")],
        accounts=accounts[contract_columns("core_banking", "accounts")],
        transactions=transactions,
        balances=balances[contract_columns("core_banking", "balances")],
        loan_status=loan_status[contract_columns("core_banking", "loan_status")],
    )


# --- cards and wealth (file drops) --------------------------------------------------------


def cards_frame(extract: BerkaExtract) -> pd.DataFrame:
    """cards rows; the holder is the disp's client, the customer the account's owner."""
    owners = _owners(extract)
    card = extract.card.merge(
        extract.disp[["disp_id", "client_id", "account_id"]], on="disp_id", how="left"
    ).sort_values("card_id", ignore_index=True)
    issued = card["issued"].to_numpy().astype("datetime64[s]").astype(np.int64)
    issued_day = issued // 86_400
    kind = card["type"].map(decode.CARD_TYPES)
    frame = pd.DataFrame(
        {
            "card_id": card["card_id"].to_numpy(np.int64),
            "customer_id": card["account_id"].map(owners).to_numpy(np.int64),
            "account_id": card["account_id"].to_numpy(np.int64),
            "card_type": kind.str[0],
            "card_level": kind.str[1],
            "cardholder_name": np.char.add(
                "Berka client ", card["client_id"].to_numpy(np.int64).astype(str)
            ),
            "issued_on": date_text(issued_day),
            "expires_on": date_text(decode.add_months(issued_day, 12 * decode.CARD_YEARS)),
            "credit_limit": None,
            "status": "active",
            "updated_at": timestamp_text(issued),
        }
    )
    return frame[contract_columns("cards", "cards")]


def insurance_frame(extract: BerkaExtract) -> pd.DataFrame:
    """insurance_policies rows from the permanent orders paying insurance (POJISTNE)."""
    owners = _owners(extract)
    order = extract.order
    order = order[order["k_symbol"] == "POJISTNE"].sort_values("order_id", ignore_index=True)
    opened = extract.account.set_index("account_id")["date"]
    start = decode.to_days(order["account_id"].map(opened))
    frame = pd.DataFrame(
        {
            "policy_id": order["order_id"].to_numpy(np.int64),
            "customer_id": order["account_id"].map(owners).to_numpy(np.int64),
            "product_code": INSURANCE_PRODUCT,
            "start_date": date_text(start),
            "term_months": INSURANCE_TERM_MONTHS,
            "annual_premium": money_text(12 * cents(order["amount"])),
            "commission_rate": INSURANCE_COMMISSION_RATE,
            "renewal_due_on": date_text(decode.add_months(start, INSURANCE_TERM_MONTHS)),
            "status": "active",
            "renewed_on": None,
            "updated_at": day_timestamp(start),
        }
    )
    return frame[contract_columns("wealth", "insurance_policies")]
