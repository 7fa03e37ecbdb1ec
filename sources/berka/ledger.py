"""Account ledgers, vectorised: the order of a day's transactions and monthly balances.

Berka gives transactions a date but no time, and ``trans_id`` does not follow posting
order within a day (on a month end the bank credits interest, then charges the statement
fee, then the customer's own withdrawals post). The running ``balance`` does tell the
order: each transaction's balance before (``balance - signed amount``) equals the balance
after of the one posted just before it. ``order_within_day`` rebuilds that chain for every
account-day with more than one transaction; published balances are rounded, so links are
matched to the nearest cent rather than exactly (ties: lowest ``trans_id``).

``monthly_balances`` turns end-of-day balances into month rows with a day-weighted average
without expanding days: the balance-days integral up to any day is the integral up to the
last event before it plus that event's balance times the days since, found with one
``searchsorted`` over (account, day) keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.berka.decode import month_index, month_start_days

_DAY_SPAN = 1 << 20  # days per account in the combined (account, day) sort key


def order_within_day(
    account: np.ndarray,
    day: np.ndarray,
    trans_id: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
) -> np.ndarray:
    """Position (0, 1, ...) of each transaction within its account-day, in posting order.

    ``before`` and ``after`` are the balances around each transaction in cents. The head
    of a day is the transaction whose balance before is furthest from every other one's
    balance after; each next one is the remaining transaction whose balance before is
    nearest to the current balance after.
    """
    n = len(account)
    position = np.zeros(n, dtype=np.int64)
    if n == 0:
        return position
    order = np.lexsort((trans_id, day, account))
    acc, dd = account[order], day[order]
    new_group = np.r_[True, (acc[1:] != acc[:-1]) | (dd[1:] != dd[:-1])]
    group = np.cumsum(new_group) - 1
    size = np.bincount(group)[group]
    multi = np.flatnonzero(size > 1)
    if len(multi) == 0:
        return position
    rows = pd.DataFrame(
        {
            "row": order[multi],
            "grp": group[multi],
            "tid": trans_id[order[multi]],
            "before": before[order[multi]],
            "after": after[order[multi]],
        }
    )
    pairs = rows[["grp", "row", "after"]].merge(
        rows[["grp", "row", "before"]], on="grp", suffixes=("_p", "")
    )
    pairs = pairs[pairs["row_p"] != pairs["row"]]
    gap = (pairs["after"] - pairs["before"]).abs()
    pred_gap = gap.groupby(pairs["row"].to_numpy()).min()
    rows["pred_gap"] = rows["row"].map(pred_gap)
    head = rows.sort_values(["grp", "pred_gap", "tid"], ascending=[True, False, True])
    head = head.drop_duplicates("grp")
    position[head["row"].to_numpy()] = 0
    remaining = rows[~rows["row"].isin(head["row"])]
    current = head[["grp", "after"]]
    step = 1
    while len(remaining):
        candidates = remaining.merge(current, on="grp", suffixes=("", "_cur"))
        candidates["gap"] = (candidates["after_cur"] - candidates["before"]).abs()
        chosen = candidates.sort_values(["grp", "gap", "tid"]).drop_duplicates("grp")
        position[chosen["row"].to_numpy()] = step
        remaining = remaining[~remaining["row"].isin(chosen["row"])]
        current = chosen[["grp", "after"]]
        step += 1
    return position


def monthly_balances(
    event_account: np.ndarray,
    event_day: np.ndarray,
    event_balance: np.ndarray,
    window_account: np.ndarray,
    window_first: np.ndarray,
    window_last: np.ndarray,
) -> pd.DataFrame:
    """Month rows for each account window from end-of-day balances (all in cents).

    Events: one end-of-day balance per (account, day), any order; the balance holds until
    the account's next event and is 0 before its first. Windows: one per account, the
    first and last day (inclusive) it is open; accounts with ``last < first`` get no rows.

    Returns account_id, month (first day, days since 1970), first_day, last_day (covered
    days of the month), days, avg_cents (day-weighted, rounded half to even) and
    end_cents (balance at the end of last_day).
    """
    accounts = np.unique(np.concatenate([event_account, window_account]))
    ev_rank = np.searchsorted(accounts, event_account)
    base = int(min(event_day.min(initial=0), window_first.min(initial=0))) - 1
    ev_key = ev_rank * _DAY_SPAN + (event_day - base)
    sort = np.argsort(ev_key, kind="stable")
    ev_key, ev_rank = ev_key[sort], ev_rank[sort]
    ev_day, ev_bal = event_day[sort], event_balance[sort].astype(np.int64)
    if len(ev_key) > 1 and (np.diff(ev_key) == 0).any():
        raise ValueError("monthly_balances: more than one event for an account-day")
    same_next = np.r_[ev_rank[1:] == ev_rank[:-1], False]
    span = np.where(same_next, np.r_[ev_day[1:], 0] - ev_day, 0)
    segment = ev_bal * span
    cumulative = pd.Series(segment).groupby(ev_rank).cumsum().to_numpy() - segment

    keep = window_last >= window_first
    w_acc, w_first, w_last = window_account[keep], window_first[keep], window_last[keep]
    first_month, last_month = month_index(w_first), month_index(w_last)
    n_months = last_month - first_month + 1
    total = int(n_months.sum())
    which = np.repeat(np.arange(len(w_acc)), n_months)
    offset = np.arange(total) - np.repeat(np.cumsum(n_months) - n_months, n_months)
    month = first_month[which] + offset
    month_first = month_start_days(month)
    month_last = month_start_days(month + 1) - 1
    first_day = np.maximum(month_first, w_first[which])
    last_day = np.minimum(month_last, w_last[which])
    rank = np.searchsorted(accounts, w_acc)[which]

    def integral_before(day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Balance-days over the account's days before ``day``, and the balance then."""
        idx = np.searchsorted(ev_key, rank * _DAY_SPAN + (day - base), side="left") - 1
        safe = np.maximum(idx, 0)
        valid = (idx >= 0) & (ev_rank[safe] == rank)
        value = cumulative[safe] + ev_bal[safe] * (day - ev_day[safe])
        return np.where(valid, value, 0), np.where(valid, ev_bal[safe], 0)

    start_integral, _ = integral_before(first_day)
    end_integral, end_balance = integral_before(last_day + 1)
    days = last_day - first_day + 1
    avg = np.rint((end_integral - start_integral) / days).astype(np.int64)
    return pd.DataFrame(
        {
            "account_id": w_acc[which],
            "month": month_first,
            "first_day": first_day,
            "last_day": last_day,
            "days": days,
            "avg_cents": avg,
            "end_cents": end_balance,
        }
    )
