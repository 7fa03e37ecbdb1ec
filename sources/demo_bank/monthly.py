"""One simulated month: balances, transactions, loans, cards, service, wealth and CRM."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sources.demo_bank.config import DemoBankConfig, month_start
from sources.demo_bank.population import STAGES, Population, engagement, stage_codes
from sources.reference import five_tier_class

OTHER_BANKS = np.array(
    [
        "中国工商银行",
        "中国建设银行",
        "中国农业银行",
        "中国银行",
        "招商银行",
        "交通银行",
        "浦发银行",
        "兴业银行",
    ]
)
OWN_BANK = "本行"
MERCHANTS = np.array(
    [
        "美宜佳便利店",
        "永辉超市",
        "星巴克",
        "滴滴出行",
        "中国石化",
        "京东商城",
        "美团外卖",
        "海底捞",
        "优衣库",
        "国美电器",
        "携程旅行",
        "万达影城",
    ]
)
MCC = np.array(
    ["5411", "5411", "5814", "4121", "5541", "5311", "5812", "5812", "5651", "5732", "4722", "7832"]
)
# Dictionaries must hold distinct values (two merchants share a category code).
MCC_NAMES, MCC_CODE = np.unique(MCC, return_inverse=True)
COMPLAINT_CATEGORIES = np.array(
    [
        "fees",
        "service_attitude",
        "wait_time",
        "product",
        "digital_channel",
        "card",
        "loan",
        "wealth",
    ]
)
COMPLAINT_TEXT = np.array(
    [
        "对收费有异议",
        "柜员服务态度差",
        "排队时间过长",
        "产品说明不清楚",
        "手机银行无法登录",
        "银行卡被盗刷",
        "贷款还款扣款错误",
        "理财产品亏损",
    ]
)
SEVERITIES = np.array(["low", "medium", "high"])
SLA = np.array([120, 72, 24])
DECLINE, DORMANT, CHURNED = 4, 5, 6


def ts(days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def utc(values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values)).tz_localize("UTC")


class MonthState:
    """State carried from month to month (balances, loan arrears, ids)."""

    def __init__(
        self,
        cfg: DemoBankConfig,
        pop: Population,
        accounts: pd.DataFrame,
        cards: pd.DataFrame,
        wealth: pd.DataFrame,
        policies: pd.DataFrame,
        anomalies: pd.DataFrame,
        rng: np.random.Generator,
    ) -> None:
        self.cfg, self.pop, self.rng = cfg, pop, rng
        self.accounts, self.cards, self.wealth = accounts, cards, wealth
        self.policies = policies.assign(lapsed=False)
        self.anomalies = anomalies
        f = pop.frame
        self.row_of_customer = pd.Series(np.arange(pop.n), index=f["customer_id"].to_numpy())
        self.acct_cust_row = self.row_of_customer.loc[accounts["customer_id"]].to_numpy()
        self.balance = np.zeros(len(accounts))  # end balance of the previous month
        self.dpd = np.zeros(len(accounts), dtype=np.int64)
        self.next_txn_id = 1
        self.txn_seconds = 0.0  # time spent generating and writing transactions
        self.next_card_txn_id = 1
        self.next_ids = {"complaint": 1, "survey": 1, "interaction": 1, "fee": 1, "subscription": 1}
        self.complaint_months = np.full(pop.n, -100)
        self.opened = accounts["opened_on"].to_numpy().astype("datetime64[D]")
        self.closed = accounts["closed_on"].to_numpy().astype("datetime64[D]")
        self.joined = f["joined_on"].to_numpy().astype("datetime64[D]")
        self.complaint_versions: list[pd.DataFrame] = []
        self.policy_versions: list[pd.DataFrame] = []
        self.rm = _assign_rms(cfg, pop, rng)

    def _days_after_join(self, rows: np.ndarray, first, days: int) -> np.ndarray:
        """Event days in the month for population ``rows``, never before the customer joined."""
        earliest = np.clip((self.joined[rows] - first).astype(int), 0, days - 1)
        return first + self.rng.integers(earliest, days).astype("timedelta64[D]")

    # --- the month ----------------------------------------------------------------------

    def run_month(self, month: int, writer) -> int:
        cfg, rng, f = self.cfg, self.rng, self.pop.frame
        first = np.datetime64(month_start(cfg.start, month), "D")
        last_excl = np.datetime64(month_start(cfg.start, month + 1), "D")
        part = str(first)[:7]
        eng = engagement(self.pop, month)
        stage = stage_codes(self.pop, month)
        self.stage, self.eng = stage, eng
        noise = rng.lognormal(0.0, 0.08, self.pop.n)
        deposits = f["wealth"].to_numpy() * eng * noise
        acc = self.accounts
        kind = acc["account_type"].to_numpy()
        open_start = np.maximum(self.opened, first)
        open_end = np.minimum(np.where(np.isnat(self.closed), last_excl, self.closed), last_excl)
        open_now = open_end > open_start
        cust_row = self.acct_cust_row

        # Deposit accounts other than current track a share of the customer's deposits.
        n_dep = np.bincount(
            cust_row[open_now & (kind != "loan") & (kind != "current")], minlength=self.pop.n
        )
        share = np.where(kind == "savings", 0.35, 0.45) / np.maximum(n_dep[cust_row], 1)
        target = np.where(kind == "current", np.where(n_dep[cust_row] > 0, 0.25, 1.0), share)
        target = target * deposits[cust_row]
        closing = (~np.isnat(self.closed)) & (self.closed < last_excl) & (self.closed >= first)
        target = np.where(closing, 0.0, target)
        # Dormant customers leave their money where it is.
        frozen = stage[cust_row] == DORMANT
        target = np.where(frozen & ~closing, self.balance, target)

        if month == 0:
            # Accounts older than the simulation start the month holding their target.
            self.balance = np.where(self.opened < first, target, 0.0)
        loan = kind == "loan"
        term = acc["term_months"].fillna(1).to_numpy()
        elapsed = month - acc["open_month"].to_numpy() + 1
        principal = acc["principal"].fillna(0).to_numpy().astype(float)
        outstanding = np.where(loan, np.round(principal * np.clip(1 - elapsed / term, 0, 1), 2), 0)
        outstanding = np.where(closing & loan, 0.0, outstanding)

        # Loan arrears: a Markov chain on days past due, worse for declining customers.
        behind = loan & open_now
        miss_p = 0.015 + 0.12 * np.isin(stage[cust_row], [DECLINE, DORMANT])
        cure = rng.random(len(acc)) < 0.35
        miss = rng.random(len(acc)) < miss_p
        days = int((last_excl - first).astype(int))
        self.dpd = np.where(behind & (self.dpd > 0) & cure, 0, self.dpd)
        self.dpd = np.where(behind & (self.dpd > 0) & ~cure, self.dpd + days, self.dpd)
        self.dpd = np.where(behind & (self.dpd == 0) & miss, 15, self.dpd)
        self.dpd = np.where(~behind, 0, self.dpd)

        tick = time.perf_counter()
        txns, avg_current, end_current = self._transactions(
            month, first, last_excl, open_start, open_end, target, outstanding
        )
        writer.write("core_banking", "transactions", part, txns)
        self.txn_seconds += time.perf_counter() - tick
        end_balance = np.where(kind == "current", end_current, np.where(loan, outstanding, target))
        start_balance = self.balance
        # Without transactions a balance moves in a straight line over the month.
        avg = np.where(kind == "current", avg_current, (start_balance + end_balance) / 2)
        avg = np.where(
            loan, (np.where(elapsed <= 1, outstanding, start_balance) + outstanding) / 2, avg
        )
        open_days = np.maximum((open_end - open_start).astype(int), 0)
        balances = pd.DataFrame(
            {
                "account_id": acc["account_id"].to_numpy()[open_now],
                "balance_month": first.astype(object),
                "avg_balance": np.round(avg[open_now], 2),
                "end_balance": np.round(end_balance[open_now], 2),
                "days": open_days[open_now],
            }
        )
        balances["balance_month"] = pd.Timestamp(str(first)).date()
        balances["updated_at"] = pd.Timestamp(str(last_excl), tz="UTC") + pd.Timedelta(hours=2)
        loan_rows = pd.DataFrame(
            {
                "account_id": acc["account_id"].to_numpy()[behind],
                "outstanding": outstanding[behind],
                "days_past_due": self.dpd[behind],
                "five_tier_class": five_tier_class(self.dpd[behind]),
            }
        )
        loan_rows.insert(1, "status_month", pd.Timestamp(str(first)).date())
        loan_rows["updated_at"] = pd.Timestamp(str(last_excl), tz="UTC") + pd.Timedelta(hours=3)
        self.balance = np.where(open_now, end_balance, np.where(closing, 0.0, self.balance))

        writer.write("core_banking", "balances", part, balances)
        writer.write("core_banking", "loan_status", part, loan_rows)
        self._cards(month, first, last_excl, writer, part)
        self._service(month, first, last_excl, writer, part)
        self._wealth(month, first, last_excl, writer, part)
        self._crm(month, first, last_excl, writer, part)
        return len(txns)

    # --- core-banking transactions ------------------------------------------------------

    def _transactions(
        self,
        month: int,
        first: np.datetime64,
        last_excl: np.datetime64,
        open_start: np.ndarray,
        open_end: np.ndarray,
        target: np.ndarray,
        outstanding: np.ndarray,
    ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """Current-account transactions, all in numpy: the generator's hot path."""
        cfg, rng, f = self.cfg, self.rng, self.pop.frame
        acc = self.accounts
        kind = acc["account_type"].to_numpy()
        cust_row = self.acct_cust_row
        current = np.flatnonzero((kind == "current") & (open_end > open_start))
        corp = f["corporate"].to_numpy()[cust_row[current]]
        eng = self.eng[cust_row[current]]
        stage = self.stage[cust_row[current]]
        wealth = f["wealth"].to_numpy()[cust_row[current]]
        digital = f["digital"].to_numpy()[cust_row[current]]
        lo = open_start[current].astype("datetime64[D]").astype(np.int64)
        hi = open_end[current].astype("datetime64[D]").astype(np.int64)
        span = np.maximum(hi - lo, 1)
        rate = np.where(corp, cfg.corporate_txn_rate, cfg.individual_txn_rate)
        row = np.repeat(np.arange(len(current)), rng.poisson(rate * eng))
        n = len(row)
        day = lo[row] + (rng.random(n) * span[row]).astype(np.int64)
        second = rng.integers(7 * 3600, 22 * 3600, n)
        credit = rng.random(n) < 0.42
        pick = rng.random(n)
        # Credits: salary, transfer in, cash deposit; debits: payment, transfer out, cash.
        ttype = np.where(
            credit,
            np.where(pick < 0.3, 0, np.where(pick < 0.8, 1, 2)),
            np.where(pick < 0.45, 3, np.where(pick < 0.8, 4, 5)),
        ).astype(np.int8)
        ttype = np.where(corp[row] & (ttype == 0), 1, ttype).astype(np.int8)
        cash = (ttype == 2) | (ttype == 5)
        online = rng.random(n) < digital[row]
        split = rng.random(n)
        channel = np.where(
            cash,
            np.where(split < 0.7, 1, 0),
            np.where(online, np.where(split < 0.7, 2, 3), np.where(ttype == 3, 4, 0)),
        ).astype(np.int8)
        scale = np.maximum(wealth[row] * np.where(corp[row], 0.02, 0.04), 80)
        amount = np.round(rng.lognormal(np.log(scale), 0.8), 2)
        transfer = (ttype == 0) | (ttype == 1) | (ttype == 4)
        other_bank = transfer & (rng.random(n) < 0.45)
        # Balance run-off: declining customers move money to other banks.
        runoff = (ttype == 4) & (stage[row] == DECLINE)
        other_bank |= runoff
        amount = np.where(runoff, amount * 2.5, amount)
        cross_border = transfer & (rng.random(n) < 0.003)
        fee = np.where(
            (ttype == 4) & other_bank & (channel == 0),
            np.round(np.clip(amount * 0.0005, 2, 50), 2),
            0.0,
        )
        parts = [(row, day, second, ttype, credit, channel, amount, fee, other_bank, cross_border)]
        for extra in (
            self._repayments(month, first, current, outstanding),
            self._anomaly_rows(month, current),
        ):
            if len(extra):
                parts.append(_columns_of(extra))
        rows = _Rows(*(np.concatenate(c) for c in zip(*parts, strict=True)))
        # Scheduled rows (instalments, bursts) fall within the days the account is open.
        rows.day = np.clip(rows.day, lo[rows.row], hi[rows.row] - 1)

        # Keep balances real: an opening credit covers any overdraft, and a closing
        # own-account transfer lands the month on the customer's target balance.
        start = self.balance[current]
        rows = rows.sorted()
        running = _group_cumsum(rows.signed, rows.row) + start[rows.row]
        starts = _group_starts(rows.row)
        moved = np.zeros(len(current))
        lowest = np.zeros(len(current))
        if len(rows.row):
            moved[rows.row[starts]] = np.add.reduceat(rows.signed, starts)
            lowest[rows.row[starts]] = np.minimum(np.minimum.reduceat(running, starts), 0)
        top_up = np.where(lowest < 0, np.round(-lowest + 100, 2), 0.0)
        goal = target[current]
        settle = np.round(goal - (start + moved + top_up), 2)
        settle = np.where((stage == DORMANT) & (goal == start), 0.0, settle)
        has_top = np.flatnonzero(top_up > 0)
        has_settle = np.flatnonzero(np.abs(settle) >= 0.01)
        fixes = [rows]
        if len(has_top):
            fixes.append(
                _own_transfer(has_top, lo[has_top], 1, top_up[has_top], np.ones(len(has_top), bool))
            )
        if len(has_settle):
            fixes.append(
                _own_transfer(
                    has_settle,
                    hi[has_settle] - 1,
                    22 * 3600 + 1800,
                    np.abs(settle[has_settle]),
                    settle[has_settle] > 0,
                )
            )
        rows = _Rows.concat(fixes).sorted()
        r = rows.row
        balance_after = np.round(_group_cumsum(rows.signed, r) + start[r], 2)
        starts = _group_starts(r)
        ends = np.r_[starts[1:], len(r)] - 1 if len(r) else starts
        end_current = np.zeros(len(acc))
        end_current[current] = start
        end_current[current[r[ends]]] = balance_after[ends]

        # Day-weighted average: each balance holds until the next transaction.
        when = (rows.day - lo[r]) * 86_400 + rows.second
        horizon = (hi - lo) * 86_400
        nxt = np.r_[when[1:], 0]
        nxt[ends] = horizon[r[ends]]
        weighted = np.bincount(
            r, weights=balance_after * np.maximum(nxt - when, 0), minlength=len(current)
        )
        first_when = horizon.copy()
        first_when[r[starts]] = when[starts]
        weighted += start * first_when
        avg_current = np.zeros(len(acc))
        avg_current[current] = weighted / np.maximum(horizon, 1)

        n_rows = len(r)
        ids = np.arange(self.next_txn_id, self.next_txn_id + n_rows)
        self.next_txn_id += n_rows
        stamp = pa.array(rows.day * 86_400 + rows.second, pa.int64()).cast(
            pa.timestamp("s", tz="UTC")
        )
        is_transfer = (rows.ttype == 0) | (rows.ttype == 1) | (rows.ttype == 4)
        bank = np.where(
            rows.other_bank, rng.integers(len(OTHER_BANKS), size=n_rows), len(OTHER_BANKS)
        )
        # Counterparty account numbers exist only for transfers; other rows are null.
        n_transfers = int(is_transfer.sum())
        numbers = pc.utf8_lpad(
            pa.array(rng.integers(0, 10**12, n_transfers)).cast(pa.string()), 16, "0"
        )
        position = pa.array(np.cumsum(is_transfer) - 1, mask=~is_transfer)
        counter = numbers.take(position)
        table = pa.table(
            {
                "txn_id": ids,
                "account_id": acc["account_id"].to_numpy()[current[r]],
                "txn_ts": stamp,
                "channel": _dictionary(rows.channel, CHANNEL_NAMES),
                "txn_type": _dictionary(rows.ttype, TYPE_NAMES),
                "direction": _dictionary(np.where(rows.credit, 0, 1), np.array(["C", "D"])),
                "amount": np.round(rows.amount, 2),
                "fee_amount": rows.fee,
                "balance_after": balance_after,
                "counterparty_bank": _dictionary(
                    bank, np.r_[OTHER_BANKS, [OWN_BANK]], mask=~is_transfer
                ),
                "counterparty_account": counter,
                "cross_border": rows.cross_border,
                "updated_at": stamp,
            }
        )
        return table, avg_current, end_current

    def _repayments(
        self, month: int, first: np.datetime64, current: np.ndarray, outstanding: np.ndarray
    ) -> pd.DataFrame:
        """Loan instalments debited from the customer's current account on the 15th."""
        acc = self.accounts
        loans = np.flatnonzero(
            (acc["account_type"].to_numpy() == "loan")
            & (self.opened < first)
            & (outstanding > 0)
            & (self.dpd == 0)
        )
        if not len(loans):
            return pd.DataFrame()
        current_of = pd.Series(
            np.arange(len(current)), index=acc["customer_id"].to_numpy()[current]
        )
        cust = acc["customer_id"].to_numpy()[loans]
        present = np.isin(cust, current_of.index)
        loans, cust = loans[present], cust[present]
        term = acc["term_months"].to_numpy()[loans].astype(float)
        principal = acc["principal"].to_numpy()[loans].astype(float)
        rate = acc["interest_rate"].to_numpy()[loans].astype(float)
        instalment = np.round(principal / term + outstanding[loans] * rate / 12, 2)
        n = len(loans)
        return pd.DataFrame(
            {
                "row": current_of.loc[cust].to_numpy(),
                "day": np.full(n, first + np.timedelta64(14, "D")),
                "second": np.full(n, 2 * 3600),
                "txn_type": "loan_repayment",
                "direction": "D",
                "channel": "online",
                "amount": instalment,
                "fee_amount": 0.0,
                "other_bank": False,
                "cross_border": False,
            }
        )

    def _anomaly_rows(self, month: int, current: np.ndarray) -> pd.DataFrame:
        """The injected suspicious bursts of this month (money in, then out, same day)."""
        planned = self.anomalies[self.anomalies["month"] == month]
        if planned.empty:
            return pd.DataFrame()
        current_of = pd.Series(
            np.arange(len(current)), index=self.accounts["account_id"].to_numpy()[current]
        )
        planned = planned[planned["account_id"].isin(current_of.index)]
        rows = []
        rng = self.rng
        for item in planned.itertuples():
            row = int(current_of.loc[item.account_id])
            if item.kind == "cash":
                outs = np.round(rng.uniform(20_000, 45_000, 3), -2)
                out_rows = [("cash_withdrawal", "branch", a, False) for a in outs]
            elif item.kind == "transfer":
                out_rows = [
                    ("transfer_out", "online", round(rng.uniform(520_000, 950_000), -3), False)
                ]
            else:
                out_rows = [
                    ("transfer_out", "online", round(rng.uniform(110_000, 160_000), -3), True)
                    for _ in range(2)
                ]
            total = sum(r[2] for r in out_rows)
            rows.append(
                (row, item.day, 9 * 3600, "transfer_in", "C", "online", total, 0.0, True, False)
            )
            for k, (ttype, chan, amount, cross) in enumerate(out_rows):
                rows.append(
                    (
                        row,
                        item.day,
                        11 * 3600 + 600 * k,
                        ttype,
                        "D",
                        chan,
                        amount,
                        0.0,
                        ttype == "transfer_out",
                        cross,
                    )
                )
        return pd.DataFrame(
            rows,
            columns=[
                "row",
                "day",
                "second",
                "txn_type",
                "direction",
                "channel",
                "amount",
                "fee_amount",
                "other_bank",
                "cross_border",
            ],
        )

    # --- cards, service, wealth, CRM ----------------------------------------------------

    def _cards(self, month: int, first, last_excl, writer, part: str) -> None:
        tick = time.perf_counter()
        rng, cards = self.rng, self.cards
        issued = cards["issued_on"].to_numpy().astype("datetime64[D]")
        gone = cards["closed_on"].to_numpy().astype("datetime64[D]")
        lo = np.maximum(issued, first)
        hi = np.minimum(np.where(np.isnat(gone), last_excl, gone), last_excl)
        active = hi > lo
        cust_row = self.row_of_customer.loc[cards["customer_id"]].to_numpy()
        eng = self.eng[cust_row]
        lam = np.where(cards["card_type"].to_numpy() == "credit", 9.0, 4.0) * eng * active
        count = rng.poisson(lam)
        row = np.repeat(np.arange(len(cards)), count)
        n = len(row)
        span = np.maximum((hi - lo).astype(int), 1)
        day = lo[row] + (rng.random(n) * span[row]).astype("timedelta64[D]")
        moment = day.astype("datetime64[D]").astype(np.int64) * 86_400 + rng.integers(
            8 * 3600, 23 * 3600, n
        )
        # Ids and file order follow time, as a card system would number them.
        order = np.argsort(moment, kind="stable")
        row, moment = row[order], moment[order]
        merchant = rng.integers(len(MERCHANTS), size=n)
        wealth = self.pop.frame["wealth"].to_numpy()[cust_row[row]]
        amount = np.round(rng.lognormal(np.log(np.clip(wealth * 0.004, 30, 3000)), 0.9), 2)
        ids = np.arange(self.next_card_txn_id, self.next_card_txn_id + n)
        self.next_card_txn_id += n
        frame = pa.table(
            {
                "card_txn_id": ids,
                "card_id": cards["card_id"].to_numpy()[row],
                "txn_ts": pa.array(moment, pa.int64()).cast(pa.timestamp("s", tz="UTC")),
                "merchant_name": _dictionary(merchant, MERCHANTS),
                "merchant_category": _dictionary(MCC_CODE[merchant], MCC_NAMES),
                "channel": _dictionary(
                    (rng.random(n) < 0.35).astype(np.int8), np.array(["pos", "online"])
                ),
                "amount": amount,
                "currency": _dictionary(np.zeros(n, np.int8), np.array(["CNY"])),
                "cross_border": rng.random(n) < 0.01,
            }
        )
        writer.write("cards", "card_transactions", part, frame)
        self.txn_seconds += time.perf_counter() - tick
        # Annual fees fall in the card's anniversary month; half are waived for spending.
        credit = (cards["card_type"].to_numpy() == "credit") & active
        anniversary = (
            credit & (pd.to_datetime(issued).month == int(str(first)[5:7])) & (issued < first)
        )
        idx = np.flatnonzero(anniversary)
        fee = np.select(
            [
                cards["card_level"].to_numpy()[idx] == "platinum",
                cards["card_level"].to_numpy()[idx] == "gold",
            ],
            [2000.0, 600.0],
            200.0,
        )
        fee_day = np.minimum(
            first + (issued[idx] - issued[idx].astype("datetime64[M]").astype("datetime64[D]")),
            hi[idx] - np.timedelta64(1, "D"),
        )
        fees = pd.DataFrame(
            {
                "fee_id": np.arange(self.next_ids["fee"], self.next_ids["fee"] + len(idx)),
                "card_id": cards["card_id"].to_numpy()[idx],
                "fee_date": pd.to_datetime(fee_day).date,
                "amount": fee,
                "waived": rng.random(len(idx)) < 0.5,
            }
        )
        self.next_ids["fee"] += len(idx)
        writer.write("cards", "annual_fees", part, fees)

    def _service(self, month: int, first, last_excl, writer, part: str) -> None:
        rng, f = self.rng, self.pop.frame
        stage = self.stage
        active = (stage >= 1) & (stage <= DORMANT)
        troubled = np.isin(stage, [DECLINE, DORMANT])
        p = self.cfg.complaint_rate * np.where(troubled, 8.0, 1.0) * active
        idx = np.flatnonzero(rng.random(self.pop.n) < p)
        days = int((last_excl - first).astype(int))
        opened = ts(
            self._days_after_join(idx, first, days),
            rng.integers(8 * 3600, 20 * 3600, len(idx)),
        )
        severity = rng.choice(3, size=len(idx), p=[0.55, 0.35, 0.10])
        category = rng.integers(len(COMPLAINT_CATEGORIES), size=len(idx))
        hours = np.round(rng.lognormal(np.log(40), 0.9, len(idx))).astype(int) + 1
        closed = opened + (hours * 3600).astype("timedelta64[s]")
        ids = np.arange(self.next_ids["complaint"], self.next_ids["complaint"] + len(idx))
        self.next_ids["complaint"] += len(idx)
        self.complaint_months[idx] = month
        base = pd.DataFrame(
            {
                "complaint_id": ids,
                "customer_id": f["customer_id"].to_numpy()[idx],
                "opened_at": utc(opened),
                "closed_at": pd.Series(pd.NaT, index=range(len(idx)), dtype="datetime64[ns, UTC]"),
                "category": COMPLAINT_CATEGORIES[category],
                "severity": SEVERITIES[severity],
                "channel": np.array(["branch", "phone", "online", "regulator"])[
                    rng.choice(4, size=len(idx), p=[0.3, 0.4, 0.25, 0.05])
                ],
                "status": "open",
                "sla_hours": SLA[severity],
                "description": COMPLAINT_TEXT[category],
                "updated_at": utc(opened),
            }
        )
        done = base.copy()
        done["closed_at"] = utc(closed)
        done["status"] = "closed"
        done["updated_at"] = done["closed_at"]
        self.complaint_versions.extend([base, done])
        # Surveys: satisfaction falls with decline and with a recent complaint.
        surveyed = np.flatnonzero((rng.random(self.pop.n) < self.cfg.survey_rate) & active)
        recent = (month - self.complaint_months[surveyed]) <= 2
        score = 4.3 - 1.3 * troubled[surveyed] - 1.1 * recent + rng.normal(0, 0.7, len(surveyed))
        satisfaction = np.clip(np.round(score), 1, 5).astype(int)
        nps = np.clip(
            np.round(satisfaction * 2.2 - 1 + rng.normal(0, 1.2, len(surveyed))), 0, 10
        ).astype(int)
        surveys = pd.DataFrame(
            {
                "survey_id": np.arange(
                    self.next_ids["survey"], self.next_ids["survey"] + len(surveyed)
                ),
                "customer_id": f["customer_id"].to_numpy()[surveyed],
                "surveyed_at": utc(
                    ts(
                        self._days_after_join(surveyed, first, days),
                        rng.integers(9 * 3600, 21 * 3600, len(surveyed)),
                    )
                ),
                "touchpoint": np.array(["branch", "mobile_app", "call_center", "rm"])[
                    rng.integers(4, size=len(surveyed))
                ],
                "satisfaction": satisfaction,
                "nps": nps,
                "comment": np.where(satisfaction <= 2, "服务有待改进", None),
            }
        ).sort_values("surveyed_at", kind="stable")
        self.next_ids["survey"] += len(surveyed)
        writer.write("service", "surveys", part, surveys)

    def _wealth(self, month: int, first, last_excl, writer, part: str) -> None:
        rng, f = self.rng, self.pop.frame
        w = self.wealth
        rows = self.row_of_customer.loc[w["customer_id"]].to_numpy()
        holding = (
            (w["open_month"].to_numpy() <= month)
            & (self.stage[rows] >= 1)
            & (self.stage[rows] < CHURNED)
        )
        as_of = pd.Timestamp(str(last_excl - np.timedelta64(1, "D"))).date()
        value = (
            f["wealth"].to_numpy()[rows]
            * w["share"].to_numpy()
            * self.eng[rows]
            * rng.lognormal(0, 0.05, len(w))
        )
        keep = holding & (value > 100)
        nav = {"WM_CASH": 1.0, "WM_BOND": 1.05, "WM_EQUITY": 1.2}
        holdings = pd.DataFrame(
            {
                "customer_id": w["customer_id"].to_numpy()[keep],
                "product_code": w["product_code"].to_numpy()[keep],
                "as_of_date": as_of,
                "units": np.round(value[keep] / w["product_code"].map(nav).to_numpy()[keep], 4),
                "market_value": np.round(value[keep], 2),
            }
        )
        writer.write("wealth", "wealth_holdings", part, holdings)
        starting = np.flatnonzero(w["open_month"].to_numpy() == month)
        leaving = np.flatnonzero(
            holding & (self.stage[rows] == DECLINE) & (rng.random(len(w)) < 0.3)
        )
        trades = []
        for idx, trade in ((starting, "subscribe"), (leaving, "redeem")):
            amount = np.round(np.maximum(value[idx], 1000.0), 2)
            trades.append(
                pd.DataFrame(
                    {
                        "customer_id": w["customer_id"].to_numpy()[idx],
                        "product_code": w["product_code"].to_numpy()[idx],
                        "trade_date": pd.to_datetime(
                            first + rng.integers(0, 27, len(idx)).astype("timedelta64[D]")
                        ).date,
                        "trade_type": trade,
                        "amount": amount,
                        "commission": np.round(
                            amount * np.where(trade == "subscribe", 0.008, 0.0), 2
                        ),
                    }
                )
            )
        trades_frame = pd.concat(trades, ignore_index=True).sort_values(
            ["trade_date", "customer_id"], kind="stable", ignore_index=True
        )
        trades_frame.insert(
            0,
            "subscription_id",
            np.arange(
                self.next_ids["subscription"], self.next_ids["subscription"] + len(trades_frame)
            ),
        )
        self.next_ids["subscription"] += len(trades_frame)
        writer.write("wealth", "wealth_subscriptions", part, trades_frame)
        self._policies(month, first)

    def _policies(self, month: int, first: np.datetime64) -> None:
        """Policy versions: start, then each year due (30 days ahead), renewed or lapsed."""
        rng, p = self.rng, self.policies
        rows = self.row_of_customer.loc[p["customer_id"]].to_numpy()
        stage = self.stage[rows]
        start = np.array(
            [
                np.datetime64(month_start(self.cfg.start, int(m)), "D")
                for m in p["open_month"].to_numpy()
            ]
        ) + p["start_offset_days"].to_numpy().astype("timedelta64[D]")
        live = ~p["lapsed"].to_numpy()
        age_months = month - p["open_month"].to_numpy()
        base = p[
            ["policy_id", "customer_id", "product_code", "annual_premium", "commission_rate"]
        ].copy()
        base["start_date"] = pd.to_datetime(start).date
        base["term_months"] = 12
        new = live & (age_months == 0) & (stage >= 1) & (stage < CHURNED)
        due = live & (age_months > 0) & (age_months % 12 == 11) & (stage >= 1)
        renewals = live & (age_months > 0) & (age_months % 12 == 0)
        cycles = np.maximum(age_months // 12, 0)
        due_on = pd.to_datetime(
            start + ((cycles + np.where(renewals, 0, 1)) * 365).astype("timedelta64[D]")
        )
        versions = []
        if new.any():
            v = base[new].copy()
            v["renewal_due_on"] = due_on[new].date
            v["status"], v["renewed_on"] = "active", None
            v["updated_at"] = utc(ts(start[new], np.full(int(new.sum()), 10 * 3600)))
            versions.append(v)
        if due.any():
            v = base[due].copy()
            v["renewal_due_on"] = due_on[due].date
            v["status"], v["renewed_on"] = "due", None
            v["updated_at"] = utc(
                ts(
                    due_on[due].to_numpy().astype("datetime64[D]") - np.timedelta64(30, "D"),
                    np.full(int(due.sum()), 8 * 3600),
                )
            )
            versions.append(v)
        if renewals.any():
            keep = np.isin(stage[renewals], [1, 2, 3])
            renew_p = np.where(keep, 0.85, 0.25)
            renewed = rng.random(int(renewals.sum())) < renew_p
            v = base[renewals].copy()
            due_day = due_on[renewals].to_numpy().astype("datetime64[D]")
            v["renewal_due_on"] = pd.to_datetime(due_day).date
            v["status"] = np.where(renewed, "renewed", "lapsed")
            settled = due_day + np.where(renewed, rng.integers(-10, 10, len(v)), 30).astype(
                "timedelta64[D]"
            )
            v["renewed_on"] = np.where(renewed, pd.to_datetime(settled).date, None)
            v["updated_at"] = utc(ts(settled, np.full(len(v), 15 * 3600)))
            versions.append(v)
            # A renewed policy starts its next year the same day.
            if renewed.any():
                nxt = v[renewed].copy()
                nxt["status"], nxt["renewed_on"] = "active", None
                nxt["renewal_due_on"] = (
                    pd.to_datetime(due_day[renewed]) + pd.Timedelta(days=365)
                ).date
                nxt["updated_at"] = nxt["updated_at"] + pd.Timedelta(seconds=1)
                versions.append(nxt)
            self.policies.loc[np.flatnonzero(renewals)[~renewed], "lapsed"] = True
        self.policy_versions.extend(versions)

    def _crm(self, month: int, first, last_excl, writer, part: str) -> None:
        rng = self.rng
        managed = self.rm["customers"]
        rows = self.row_of_customer.loc[managed["customer_id"]].to_numpy()
        stage = self.stage[rows]
        active = (stage >= 1) & (stage < CHURNED)
        lam = 0.35 * (1 + self.pop.frame["wealth_rank"].to_numpy()[rows]) * active
        count = rng.poisson(lam)
        idx = np.repeat(np.arange(len(managed)), count)
        days = int((last_excl - first).astype(int))
        when = utc(
            ts(
                self._days_after_join(rows[idx], first, days),
                rng.integers(9 * 3600, 19 * 3600, len(idx)),
            )
        )
        purpose = np.where(
            np.isin(stage[idx], [DECLINE]) & (rng.random(len(idx)) < 0.5),
            "service",
            np.array(["service", "sales", "campaign"])[rng.integers(3, size=len(idx))],
        )
        interactions = pd.DataFrame(
            {
                "interaction_id": np.arange(
                    self.next_ids["interaction"], self.next_ids["interaction"] + len(idx)
                ),
                "customer_id": managed["customer_id"].to_numpy()[idx],
                "rm_id": managed["rm_id"].to_numpy()[idx],
                "interaction_ts": when,
                "channel": np.array(["call", "visit", "wechat", "sms", "email"])[
                    rng.choice(5, size=len(idx), p=[0.4, 0.15, 0.3, 0.1, 0.05])
                ],
                "purpose": purpose,
                "campaign_id": pd.array([None] * len(idx), dtype="Int64"),
                "outcome": np.array(["reached", "no_answer", "follow_up", "sold"])[
                    rng.choice(4, size=len(idx), p=[0.5, 0.25, 0.2, 0.05])
                ],
                "updated_at": when,
            }
        ).sort_values(["updated_at", "interaction_id"], kind="stable")
        self.next_ids["interaction"] += len(idx)
        writer.write("crm", "interactions", part, interactions)

    # --- end of the run -----------------------------------------------------------------

    def truth(self, month: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": self.pop.frame["customer_id"].to_numpy(),
                "month": pd.Timestamp(month_start(self.cfg.start, month)).date(),
                "latent_stage": STAGES[self.stage],
                "engagement": np.round(self.eng, 4),
            }
        )

    def finish(self, writer) -> None:
        if self.complaint_versions:
            complaints = pd.concat(self.complaint_versions, ignore_index=True)
            end = pd.Timestamp(self.cfg.end, tz="UTC")
            complaints = complaints[complaints["updated_at"] < end]
            writer.write(
                "service",
                "complaints",
                "versions",
                complaints.sort_values(["updated_at", "complaint_id"], kind="stable"),
            )
        if self.policy_versions:
            policies = pd.concat(self.policy_versions, ignore_index=True)
            policies = policies[
                [
                    "policy_id",
                    "customer_id",
                    "product_code",
                    "start_date",
                    "term_months",
                    "annual_premium",
                    "commission_rate",
                    "renewal_due_on",
                    "status",
                    "renewed_on",
                    "updated_at",
                ]
            ]
            writer.write(
                "wealth",
                "insurance_policies",
                "versions",
                policies.sort_values(["updated_at", "policy_id"], kind="stable"),
            )
        writer.write("crm", "relationship_managers", "versions", self.rm["managers"])
        writer.write("crm", "rm_assignments", "versions", self.rm["assignments"])
        campaigns, responses = _campaigns(self.cfg, self.pop, self.rng)
        writer.write("crm", "campaigns", "versions", campaigns)
        writer.write("crm", "campaign_responses", "versions", responses)


TYPE_NAMES = np.array(
    [
        "salary",
        "transfer_in",
        "cash_deposit",
        "payment",
        "transfer_out",
        "cash_withdrawal",
        "loan_repayment",
    ]
)
CHANNEL_NAMES = np.array(["branch", "atm", "mobile", "online", "pos"])
_TYPE_CODE = {name: code for code, name in enumerate(TYPE_NAMES)}
_CHANNEL_CODE = {name: code for code, name in enumerate(CHANNEL_NAMES)}


@dataclass
class _Rows:
    """Transactions under construction, one numpy array per attribute."""

    row: np.ndarray  # index into the month's current accounts
    day: np.ndarray  # days since 1970-01-01
    second: np.ndarray  # seconds into the day
    ttype: np.ndarray  # code into TYPE_NAMES
    credit: np.ndarray
    channel: np.ndarray  # code into CHANNEL_NAMES
    amount: np.ndarray
    fee: np.ndarray
    other_bank: np.ndarray
    cross_border: np.ndarray

    @property
    def signed(self) -> np.ndarray:
        return np.where(self.credit, self.amount, -self.amount) - self.fee

    def sorted(self) -> _Rows:
        # One int64 key (account, then time in the month) sorts faster than lexsort.
        moment = (self.day - self.day.min(initial=0)) * 86_400 + self.second
        order = np.argsort((self.row.astype(np.int64) << 32) | moment, kind="stable")
        return _Rows(*(getattr(self, f.name)[order] for f in fields(self)))

    @staticmethod
    def concat(parts: list[_Rows]) -> _Rows:
        return _Rows(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Rows)))


def _columns_of(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Extra rows built as a small frame (repayments, anomalies) in _Rows' layout."""
    return (
        frame["row"].to_numpy(np.int64),
        frame["day"].to_numpy().astype("datetime64[D]").astype(np.int64),
        frame["second"].to_numpy(np.int64),
        frame["txn_type"].map(_TYPE_CODE).to_numpy(np.int8),
        (frame["direction"] == "C").to_numpy(),
        frame["channel"].map(_CHANNEL_CODE).to_numpy(np.int8),
        frame["amount"].to_numpy(float),
        frame["fee_amount"].to_numpy(float),
        frame["other_bank"].to_numpy(bool),
        frame["cross_border"].to_numpy(bool),
    )


def _group_starts(groups: np.ndarray) -> np.ndarray:
    """First index of each run of equal values in a sorted array."""
    if not len(groups):
        return np.array([], dtype=np.int64)
    return np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])


def _group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each run of ``groups`` (sorted)."""
    total = np.cumsum(values)
    starts = _group_starts(groups)
    if not len(starts):
        return total
    offset = np.zeros(len(values))
    offset[starts] = total[starts] - values[starts]
    index = np.zeros(len(values), dtype=np.int64)
    index[starts] = starts
    return total - offset[np.maximum.accumulate(index)]


def _dictionary(
    codes: np.ndarray, names: np.ndarray, mask: np.ndarray | None = None
) -> pa.DictionaryArray:
    """A dictionary-encoded string column: small on disk, no per-row strings built."""
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(names.tolist(), pa.string()))


def _own_transfer(
    rows: np.ndarray, days: np.ndarray, second: int, amount: np.ndarray, credit: np.ndarray
) -> _Rows:
    """Transfers between the customer's own accounts (sweeps to and from savings)."""
    n = len(rows)
    return _Rows(
        rows.astype(np.int64),
        days.astype(np.int64),
        np.full(n, second, np.int64),
        np.where(credit, 1, 4).astype(np.int8),
        credit.astype(bool),
        np.full(n, 3, np.int8),
        np.round(amount, 2),
        np.zeros(n),
        np.zeros(n, bool),
        np.zeros(n, bool),
    )


def _assign_rms(
    cfg: DemoBankConfig, pop: Population, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Relationship managers for the top 30% by wealth and all corporates, per branch."""
    from sources.demo_bank.people import person_names

    f = pop.frame
    managed = f[(f["wealth_rank"] > 0.7) | f["corporate"]].copy()
    branches = np.sort(managed["branch_code"].unique())
    managers = []
    for branch in branches:
        size = int((managed["branch_code"] == branch).sum())
        for _ in range(max(1, round(size / 120))):
            managers.append((f"RM{len(managers) + 1:04d}", branch))
    mgr = pd.DataFrame(managers, columns=["rm_id", "branch_code"])
    mgr["full_name"] = person_names(rng, len(mgr))
    titles = np.array(["客户经理", "高级客户经理", "理财经理"])
    mgr["title"] = titles[rng.integers(3, size=len(mgr))]
    hired = np.datetime64(cfg.start, "D") - rng.integers(200, 4000, len(mgr)).astype(
        "timedelta64[D]"
    )
    mgr["hired_on"] = pd.to_datetime(hired).date
    mgr["left_on"] = None
    mgr["updated_at"] = utc(ts(hired, np.full(len(mgr), 9 * 3600)))
    mgr = mgr[["rm_id", "full_name", "branch_code", "title", "hired_on", "left_on", "updated_at"]]
    pick = []
    for branch, group in managed.groupby("branch_code", sort=True):
        ids = mgr.loc[mgr["branch_code"] == branch, "rm_id"].to_numpy()
        pick.append(pd.Series(ids[rng.integers(len(ids), size=len(group))], index=group.index))
    managed["rm_id"] = pd.concat(pick).sort_index()
    start = np.maximum(
        managed["joined_on"].to_numpy().astype("datetime64[D]"),
        np.datetime64(cfg.start, "D") - np.timedelta64(365, "D"),
    )
    first = pd.DataFrame(
        {
            "assignment_id": np.arange(1, len(managed) + 1),
            "customer_id": managed["customer_id"].to_numpy(),
            "rm_id": managed["rm_id"].to_numpy(),
            "valid_from": pd.to_datetime(start).date,
            "valid_to": None,
            "updated_at": utc(ts(start, np.full(len(managed), 9 * 3600))),
        }
    )
    # One in ten managed customers is handed to another manager of the branch during the run.
    moved = np.flatnonzero(rng.random(len(managed)) < 0.1)
    change_day = np.datetime64(cfg.start, "D") + rng.integers(
        1,
        max((np.datetime64(cfg.end, "D") - np.datetime64(cfg.start, "D")).astype(int), 2),
        len(moved),
    ).astype("timedelta64[D]")
    ok = change_day > start[moved]
    moved, change_day = moved[ok], change_day[ok]
    closing = first.iloc[moved].copy()
    closing["valid_to"] = pd.to_datetime(change_day).date
    closing["updated_at"] = utc(ts(change_day, np.full(len(moved), 10 * 3600)))
    branch_of = managed["branch_code"].to_numpy()[moved]
    by_branch = {b: g.to_numpy() for b, g in mgr.groupby("branch_code")["rm_id"]}
    new_rm = [by_branch[b][rng.integers(len(by_branch[b]))] for b in branch_of]
    opening = first.iloc[moved].copy()
    opening["assignment_id"] = np.arange(len(managed) + 1, len(managed) + 1 + len(moved))
    opening["rm_id"] = new_rm
    opening["valid_from"] = closing["valid_to"].to_numpy()
    opening["updated_at"] = closing["updated_at"].to_numpy()
    assignments = pd.concat([first, closing, opening], ignore_index=True).sort_values(
        ["updated_at", "assignment_id"], kind="stable", ignore_index=True
    )
    current_rm = managed[["customer_id", "rm_id"]].reset_index(drop=True)
    return {"managers": mgr, "assignments": assignments, "customers": current_rm}


def _campaigns(
    cfg: DemoBankConfig, pop: Population, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A campaign per quarter for a few products, with contacted customers' responses."""
    products = ["CREDIT_CARD", "WM_BOND", "INS_HEALTH", "TD12M"]
    joined = pop.frame["joined_on"].to_numpy().astype("datetime64[D]")
    rows, responses = [], []
    campaign_id = 1
    for quarter in range(0, cfg.months, 3):
        start = month_start(cfg.start, quarter)
        end = month_start(cfg.start, min(quarter + 3, cfg.months))
        for product in products:
            last_day = min(end, cfg.end) - timedelta(days=1)
            rows.append(
                (
                    campaign_id,
                    f"{start:%Y}Q{(start.month - 1) // 3 + 1} {product} 推广",
                    product,
                    "call",
                    start,
                    last_day,
                )
            )
            # Campaigns call existing customers: those who joined before the campaign.
            eligible = np.flatnonzero(joined < np.datetime64(start, "D"))
            contacted = rng.choice(
                eligible, size=min(len(eligible), max(1, pop.n // 40)), replace=False
            )
            day = np.datetime64(start, "D") + rng.integers(0, 80, len(contacted)).astype(
                "timedelta64[D]"
            )
            day = np.minimum(day, np.datetime64(end, "D") - np.timedelta64(1, "D"))
            p_yes = 0.04 + 0.10 * pop.frame["wealth_rank"].to_numpy()[contacted]
            pick = rng.random(len(contacted))
            answer = np.where(
                pick < p_yes, "accepted", np.where(pick < 0.6, "declined", "no_response")
            )
            contacted_at = utc(ts(day, np.full(len(day), 10 * 3600)))
            responded = contacted_at + pd.to_timedelta(rng.integers(1, 6, len(day)), unit="D")
            responses.append(
                pd.DataFrame(
                    {
                        "campaign_id": campaign_id,
                        "customer_id": pop.frame["customer_id"].to_numpy()[contacted],
                        "contacted_at": contacted_at,
                        "responded_at": responded.where(answer != "no_response"),
                        "response": answer,
                        "updated_at": responded.where(answer != "no_response", contacted_at),
                    }
                )
            )
            campaign_id += 1
    campaigns = pd.DataFrame(
        rows, columns=["campaign_id", "name", "product_code", "channel", "start_date", "end_date"]
    )
    campaigns["updated_at"] = [
        pd.Timestamp(s, tz="UTC") - pd.Timedelta(days=7) for s in campaigns["start_date"]
    ]
    resp = pd.concat(responses, ignore_index=True)
    end = pd.Timestamp(cfg.end, tz="UTC")
    resp = resp[resp["updated_at"] < end].sort_values(
        ["updated_at", "campaign_id", "customer_id"], kind="stable"
    )
    resp.insert(0, "response_id", np.arange(1, len(resp) + 1))
    return campaigns, resp.reset_index(drop=True)
