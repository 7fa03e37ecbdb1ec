"""Customer contribution recomputed in pandas from the raw tables, independently of dbt.

The rules are DESIGN.md section 4's, written a second time in Python so a test can compare
them with the marts: latest version of each raw key, matched-maturity FTP, NII to the cent
per account, fees, activity counts x unit costs, and expected credit loss per loan.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import psycopg

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def frame(conn: psycopg.Connection, query: str) -> pd.DataFrame:
    cursor = conn.execute(query)
    names = [c.name for c in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)


def latest(
    conn: psycopg.Connection, table: str, key: list[str], versioned: bool = True
) -> pd.DataFrame:
    """The latest version of every key of a raw table (or an empty frame if it is missing)."""
    exists = conn.execute("select to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]
    if exists is None:
        return pd.DataFrame()
    rows = frame(conn, f"select * from raw.{table}")
    order = (["updated_at"] if versioned else []) + ["_batch_id", "_source_row"]
    rows = rows.sort_values(order, na_position="first", kind="stable")
    return rows.drop_duplicates(key, keep="last").reset_index(drop=True)


def ftp_rate(curve: pd.DataFrame, month_start, term: int) -> Decimal:
    """Matched maturity: the curve term at or just above ``term``, else the longest; a month
    without a curve takes the latest earlier month's."""
    months = sorted(m for m in curve["curve_month"].unique() if m <= month_start)
    rows = curve[curve["curve_month"] == months[-1]].sort_values("term_months")
    above = rows[rows["term_months"] >= term]
    return (above.iloc[0] if len(above) else rows.iloc[-1])["ftp_rate"]


def recompute(conn: psycopg.Connection) -> pd.DataFrame:
    """(customer_id, month_start) -> nii, fees, cost, ecl, from raw only."""
    balances = latest(conn, "core_banking__balances", ["account_id", "balance_month"])
    accounts = latest(conn, "core_banking__accounts", ["account_id"])
    customers = latest(conn, "core_banking__customers", ["customer_id"])
    products = latest(conn, "reference__products", ["product_code"], versioned=False)
    curve = latest(conn, "reference__ftp_curve", ["curve_month", "term_months"], versioned=False)
    costs = latest(conn, "reference__unit_costs", ["activity"], versioned=False)
    pd_lgd = latest(conn, "reference__pd_lgd", ["five_tier_class"], versioned=False)
    months = set(balances["balance_month"])
    unit = dict(zip(costs["activity"], costs["unit_cost"], strict=True))
    home = dict(zip(customers["customer_id"], customers["branch_code"], strict=True))
    owner = dict(zip(accounts["account_id"], accounts["customer_id"], strict=True))
    totals: dict[tuple[int, object], dict[str, Decimal]] = {}

    def add(customer: int, month_start, part: str, amount: Decimal) -> None:
        if month_start in months:
            slot = totals.setdefault((customer, month_start), {})
            slot[part] = slot.get(part, Decimal(0)) + amount

    family = dict(zip(products["product_code"], products["family"], strict=True))
    product_rate = dict(zip(products["product_code"], products["customer_rate"], strict=True))
    product_term = dict(zip(products["product_code"], products["term_months"], strict=True))
    by_account = accounts.set_index("account_id")
    for row in balances.itertuples():
        account = by_account.loc[row.account_id]
        kind = family.get(account["product_code"])
        if kind not in ("deposit", "loan"):
            continue
        rate = account["interest_rate"]
        rate = rate if rate is not None else product_rate.get(account["product_code"]) or 0
        term = account["term_months"]
        term = term if term is not None else product_term.get(account["product_code"]) or 0
        ftp = ftp_rate(curve, row.balance_month, int(term))
        margin = ftp - rate if kind == "deposit" else rate - ftp
        nii = cents(row.avg_balance * margin * row.days / Decimal(365))
        add(account["customer_id"], row.balance_month, "nii", nii)
        if row.days > 0:
            add(account["customer_id"], row.balance_month, "cost", unit["account_maintenance"])
            if kind == "deposit":
                add(account["customer_id"], row.balance_month, "cost", unit["statement"])

    transactions = latest(conn, "core_banking__transactions", ["txn_id"], versioned=False)
    channel_activity = {
        "branch": "teller_transaction",
        "atm": "atm_use",
        "mobile": "digital_transaction",
        "online": "digital_transaction",
        "pos": "pos_transaction",
    }
    visits: set[tuple[int, object]] = set()
    for row in transactions.itertuples():
        customer = owner[row.account_id]
        month_start = row.txn_ts.date().replace(day=1)
        if row.fee_amount:
            add(customer, month_start, "fees", row.fee_amount)
        activity = channel_activity.get(row.channel)
        if activity:
            add(customer, month_start, "cost", unit[activity])
        if row.channel == "branch":
            visits.add((customer, row.txn_ts.date()))
    for customer, day in visits:
        add(customer, day.replace(day=1), "cost", unit["branch_visit"])

    cards = latest(conn, "cards__cards", ["card_id"])
    if len(cards):
        card_owner = dict(zip(cards["card_id"], cards["customer_id"], strict=True))
        fees = latest(conn, "cards__annual_fees", ["fee_id"], versioned=False)
        for row in fees.itertuples():
            if not row.waived:
                add(card_owner[row.card_id], row.fee_date.replace(day=1), "fees", row.amount)
        payments = latest(conn, "cards__card_transactions", ["card_txn_id"], versioned=False)
        for row in payments.itertuples():
            activity = "pos_transaction" if row.channel == "pos" else "digital_transaction"
            add(card_owner[row.card_id], row.txn_ts.date().replace(day=1), "cost", unit[activity])
        for row in cards.itertuples():
            for month_start in months:
                month_end = (pd.Timestamp(month_start) + pd.offsets.MonthEnd(0)).date()
                if row.issued_on > month_end:
                    continue
                if row.expires_on is not None and row.expires_on < month_start:
                    continue
                if row.status == "cancelled" and row.updated_at.date() < month_start:
                    continue
                add(row.customer_id, month_start, "cost", unit["card_maintenance"])

    subscriptions = latest(conn, "wealth__wealth_subscriptions", ["subscription_id"], False)
    for row in subscriptions.itertuples():
        if row.customer_id in home and row.commission:
            add(row.customer_id, row.trade_date.replace(day=1), "fees", row.commission)
    # A policy's commission is booked when it starts and at each renewal; renewals are in
    # the version history (a renewed policy is rolled forward to its next due date).
    bookings = (
        (latest(conn, "wealth__insurance_policies", ["policy_id"]), "start_date"),
        (latest(conn, "wealth__insurance_policies", ["policy_id", "renewed_on"]), "renewed_on"),
    )
    for policies, booked_on in bookings:
        for row in policies.itertuples():
            day = getattr(row, booked_on)
            if row.customer_id in home and day is not None:
                commission = row.annual_premium * row.commission_rate
                add(row.customer_id, day.replace(day=1), "fees_insurance", commission)
    # Customer-level activities: one per RM contact and per complaint opened.
    for table, key, stamp, activity in (
        ("crm__interactions", "interaction_id", "interaction_ts", "rm_contact"),
        ("service__complaints", "complaint_id", "opened_at", "complaint_handling"),
    ):
        for row in latest(conn, table, [key]).itertuples():
            if row.customer_id in home:
                month_start = getattr(row, stamp).date().replace(day=1)
                add(row.customer_id, month_start, "cost", unit[activity])

    loans = latest(conn, "core_banking__loan_status", ["account_id", "status_month"])
    classes = pd_lgd.set_index("five_tier_class")
    for row in loans.itertuples():
        pd_annual = float(classes.loc[row.five_tier_class, "pd_annual"])
        pd_month = Decimal(repr(1 - (1 - pd_annual) ** (1 / 12)))
        exposure = max(row.outstanding, Decimal(0))
        ecl = cents(pd_month * classes.loc[row.five_tier_class, "lgd"] * exposure)
        add(owner[row.account_id], row.status_month, "ecl", ecl)

    records = []
    for (customer, month_start), parts in totals.items():
        fees = parts.get("fees", Decimal(0)) + cents(parts.get("fees_insurance", Decimal(0)))
        records.append(
            {
                "customer_id": customer,
                "month_start": month_start,
                "net_interest_income": parts.get("nii", Decimal(0)),
                "fee_income": fees,
                "operating_cost": parts.get("cost", Decimal(0)),
                "expected_credit_loss": parts.get("ecl", Decimal(0)),
            }
        )
    return pd.DataFrame.from_records(records)
