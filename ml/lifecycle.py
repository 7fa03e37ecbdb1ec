"""BG/NBD: how likely a customer is still active, and how many transactions to expect.

The beta-geometric / negative binomial distribution model of Fader, Hardie and Lee
(2005, "Counting your customers the easy way", Marketing Science 24(2)): while active, a
customer transacts as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
transaction the customer drops out with probability p ~ Beta(a, b). For each customer the
model needs only the number of repeat transactions `frequency` (x), the time of the last
one since the first `recency` (t_x) and the time since the first `T`, all in one unit
(weeks, say). The four parameters are fitted by maximum likelihood over all customers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

from warehouse.log import get_logger

log = get_logger("ml.lifecycle")

PARAM_NAMES = ("r", "alpha", "a", "b")


def _arrays(*columns: Sequence[float] | np.ndarray) -> list[np.ndarray]:
    arrays = [np.asarray(column, dtype=float) for column in columns]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return [np.broadcast_to(a, shape) for a in arrays]


def _check_customers(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> None:
    """The data the model is defined on: counts, and 0 <= recency <= T."""
    problems = []
    if np.any(~np.isfinite(frequency)) or np.any(frequency < 0):
        problems.append("frequency must be finite and >= 0")
    elif np.any(frequency != np.round(frequency)):
        problems.append("frequency must count transactions (whole numbers)")
    if np.any(~np.isfinite(recency)) or np.any(recency < 0):
        problems.append("recency must be finite and >= 0")
    if np.any(~np.isfinite(age)) or np.any(age <= 0):
        problems.append("T must be finite and > 0")
    if not problems and np.any(recency > age + 1e-9):
        problems.append("recency must not exceed T")
    if not problems and np.any((frequency == 0) & (recency != 0)):
        problems.append("recency must be 0 for customers without repeat transactions")
    if problems:
        raise ValueError("BG/NBD input: " + "; ".join(problems))


def log_likelihood(
    params: Sequence[float], frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood under (r, alpha, a, b) (the paper's equation 6)."""
    r, alpha, a, b = params
    x, t_x, big_t = frequency, recency, age
    common = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    still_active = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    dropped = np.full_like(still_active, -np.inf)
    dropped[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return common + np.logaddexp(still_active, dropped)


class BgNbd:
    """BG/NBD fitted by maximum likelihood; ``params_`` holds r, alpha, a, b once fitted."""

    def __init__(self, penalizer: float = 0.0) -> None:
        # An L2 penalty on the parameters keeps the fit finite on data with little repeat
        # buying (a and b otherwise run off to infinity together); 0 is plain ML.
        self.penalizer = penalizer
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")
        self.n_customers_: int = 0

    def fit(
        self,
        frequency: Sequence[float] | np.ndarray,
        recency: Sequence[float] | np.ndarray,
        T: Sequence[float] | np.ndarray,  # noqa: N803 - the paper's name
    ) -> BgNbd:
        x, t_x, big_t = _arrays(frequency, recency, T)
        _check_customers(x, t_x, big_t)
        if x.size == 0:
            raise ValueError("BG/NBD input: no customers")
        # Scale time so the rate parameter starts near 1 whatever the unit.
        scale = float(np.mean(big_t))
        t_x_s, big_t_s = t_x / scale, big_t / scale

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            # The search visits extreme parameters where terms overflow: those points
            # are simply worse than any finite one.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                total = log_likelihood(params, x, t_x_s, big_t_s).sum()
            if not np.isfinite(total):
                return 1e12
            return float(-total / x.size + self.penalizer * np.sum(params**2))

        best = None
        for start in (np.zeros(4), np.log([1.0, 1.0, 0.5, 2.0]), np.log([0.5, 2.0, 1.0, 5.0])):
            result = minimize(
                objective,
                start,
                method="Nelder-Mead",
                options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-10},
            )
            result = minimize(objective, result.x, method="L-BFGS-B")
            if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                best = result
        if best is None:
            raise RuntimeError("BG/NBD: the likelihood could not be maximised from any start")
        r, alpha, a, b = np.exp(best.x)
        self.params_ = {"r": float(r), "alpha": float(alpha * scale), "a": float(a), "b": float(b)}
        self.log_likelihood_ = float(log_likelihood(self._param_tuple(), x, t_x, big_t).sum())
        self.n_customers_ = int(x.size)
        return self

    def _param_tuple(self) -> tuple[float, float, float, float]:
        if not self.params_:
            raise RuntimeError("BgNbd is not fitted: call fit(frequency, recency, T) first")
        return tuple(self.params_[name] for name in PARAM_NAMES)  # type: ignore[return-value]

    def probability_alive(
        self,
        frequency: Sequence[float] | np.ndarray,
        recency: Sequence[float] | np.ndarray,
        T: Sequence[float] | np.ndarray,  # noqa: N803
    ) -> np.ndarray:
        """P(still active at T | x, t_x, T) (the paper's equation 11)."""
        r, alpha, a, b = self._param_tuple()
        x, t_x, big_t = _arrays(frequency, recency, T)
        _check_customers(x, t_x, big_t)
        odds = np.zeros(x.shape)
        repeat = x > 0
        odds[repeat] = np.exp(
            np.log(a)
            - np.log(b + x[repeat] - 1)
            + (r + x[repeat]) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
        )
        return 1.0 / (1.0 + odds)

    def expected_transactions(
        self,
        t: float | Sequence[float] | np.ndarray,
        frequency: Sequence[float] | np.ndarray,
        recency: Sequence[float] | np.ndarray,
        T: Sequence[float] | np.ndarray,  # noqa: N803
    ) -> np.ndarray:
        """Expected transactions in the next ``t`` time units after T, given x, t_x, T
        (the paper's equation 10)."""
        r, alpha, a, b = self._param_tuple()
        horizon, x, t_x, big_t = _arrays(t, frequency, recency, T)
        _check_customers(x, t_x, big_t)
        if np.any(horizon < 0):
            raise ValueError("BG/NBD input: t must be >= 0")
        if abs(a - 1) < 1e-9:
            raise ValueError("BG/NBD: expected transactions are undefined at a = 1")
        z = horizon / (alpha + big_t + horizon)
        shrink = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
        numerator = (
            (a + b + x - 1) / (a - 1) * (1.0 - shrink * hyp2f1(r + x, b + x, a + b + x - 1, z))
        )
        return numerator * self.probability_alive(x, t_x, big_t)

    def expected_transactions_new(self, t: float | np.ndarray) -> np.ndarray:
        """E[X(t)] for a customer just acquired (the paper's equation 9)."""
        r, alpha, a, b = self._param_tuple()
        horizon = np.asarray(t, dtype=float)
        z = horizon / (alpha + horizon)
        return (
            (a + b - 1)
            / (a - 1)
            * (1.0 - (alpha / (alpha + horizon)) ** r * hyp2f1(r, b, a + b - 1, z))
        )


def simulate(
    params: dict[str, float],
    age: np.ndarray,
    rng: np.random.Generator,
    horizon: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Customers drawn from the BG/NBD story itself: frequency, recency, whether each is
    still active at T, and its transactions in (T, T + horizon].

    An independent check of the fit and the predictions: the simulation follows the
    model's definition (Poisson purchases, a coin with probability p after each repeat
    purchase), not its formulas.
    """
    n = age.size
    rates = rng.gamma(params["r"], 1.0 / params["alpha"], size=n)
    dropout = rng.beta(params["a"], params["b"], size=n)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    future = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for i in range(n):
        now = 0.0
        active = True
        while active:
            now += rng.exponential(1.0 / rates[i])
            if now > age[i] + horizon:
                break
            if now <= age[i]:
                frequency[i] += 1
                recency[i] = now
            else:
                future[i] += 1
            if rng.random() < dropout[i]:
                active = False
                alive[i] = now > age[i]
    return frequency, recency, alive, future


# --- lifecycle labels: the mart's rules, sharpened by the churn model and BG/NBD ---------

MODEL_NAME = "lifecycle"
MODEL_VERSION = "0.1.0"
# Weeks ahead over which expected transactions are reported (one quarter).
HORIZON_WEEKS = 13.0
# An active customer (new, growth, mature by the rules) is moved to `decline` when the
# churn model gives at least this probability of leaving within its horizon, or BG/NBD
# this little probability of still being active; a declining one to `dormant` below the
# second threshold.
DECLINE_CHURN_PROBABILITY = 0.5
DECLINE_PROBABILITY_ALIVE = 0.3
DORMANT_PROBABILITY_ALIVE = 0.1
ACTIVE_STAGES = ("new", "growth", "mature")
# Transactions the bank books on its own are not the customer's activity.
BANK_BOOKED = ("interest", "statement_fee", "penalty_interest")


def transaction_history(url: str, as_of_month: date) -> pd.DataFrame:
    """Per customer, as of the month's end: repeat transaction days (frequency), weeks from
    the first to the last (recency) and from the first to the month's end (T)."""
    from warehouse.db import connect

    with connect(url) as conn:
        rows = conn.execute(
            """
            with bounds as (
                select (%(month)s::date + interval '1 month')::date as next_month
            )
            select
                t.customer_id,
                count(distinct t.txn_date) - 1 as frequency,
                (max(t.txn_date) - min(t.txn_date)) / 7.0 as recency,
                (bounds.next_month - min(t.txn_date)) / 7.0 as age
            from marts.fct_transactions as t
            cross join bounds
            where
                t.txn_date < bounds.next_month
                and t.customer_id is not null
                and t.txn_type <> all(%(bank_booked)s)
            group by t.customer_id, bounds.next_month
            """,
            {"month": as_of_month, "bank_booked": list(BANK_BOOKED)},
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T"])
    return frame.astype({"frequency": float, "recency": float, "T": float}).set_index("customer_id")


def combine_stage(rule_stage: str, churn: float | None, alive: float | None) -> str:
    """The label: the rules' stage unless the models say the customer is leaving."""
    if rule_stage in ACTIVE_STAGES and (
        (churn is not None and churn >= DECLINE_CHURN_PROBABILITY)
        or (alive is not None and alive < DECLINE_PROBABILITY_ALIVE)
    ):
        return "decline"
    if rule_stage == "decline" and alive is not None and alive < DORMANT_PROBABILITY_ALIVE:
        return "dormant"
    return rule_stage


@dataclass(frozen=True)
class LifecycleRun:
    model_run_id: int
    as_of_month: date
    rows_scored: int
    stages: dict[str, int]
    moved_by_models: int
    churn_auc: float | None
    bgnbd_params: dict[str, float]


def label_lifecycle(
    url: str,
    as_of_month: date,
    read: Callable[[str, date], pd.DataFrame] | None = None,
) -> LifecycleRun:
    """Score every customer of ``as_of_month`` (churn probability, BG/NBD probability
    alive and expected transactions over HORIZON_WEEKS), label the stage and write it all
    back with the run (churn validation, BG/NBD fit) to ``ml.customer_lifecycle``."""
    from ml.churn import HORIZON_MONTHS, churn_probabilities
    from ml.features import fingerprint, read_features
    from ml.writeback import finish_run, replace_labels, start_run
    from warehouse.db import connect

    read = read or read_features
    features = read(url, as_of_month)
    metrics: dict[str, object] = {}
    window = None
    try:
        churn, validation, window = churn_probabilities(url, as_of_month, read)
        metrics["churn"] = validation.metrics()
    except ValueError as exc:
        # A bank with less history than the horizon plus the validation months cannot
        # train a churn model it can check: the labels go out without it, and say why.
        churn = pd.Series(dtype=float)
        metrics["churn"] = {"skipped": str(exc)}
        log.warning("lifecycle %s: no churn model: %s", as_of_month, exc)
    history = transaction_history(url, as_of_month).reindex(features.index).dropna()
    model = BgNbd(penalizer=1e-4).fit(history["frequency"], history["recency"], history["T"])
    alive = pd.Series(
        model.probability_alive(history["frequency"], history["recency"], history["T"]),
        index=history.index,
    )
    expected = pd.Series(
        model.expected_transactions(
            HORIZON_WEEKS, history["frequency"], history["recency"], history["T"]
        ),
        index=history.index,
    )
    metrics["bgnbd"] = {
        **{k: round(v, 6) for k, v in model.params_.items()},
        "log_likelihood": round(model.log_likelihood_, 3),
        "customers": model.n_customers_,
        "mean_probability_alive": round(float(alive.mean()), 4),
    }
    rows = []
    moved = 0
    for customer_id, rule_stage in features["rule_stage"].items():
        p_churn = _maybe(churn, customer_id)
        p_alive = _maybe(alive, customer_id)
        stage = combine_stage(str(rule_stage), p_churn, p_alive)
        moved += stage != rule_stage
        rows.append(
            (
                int(customer_id),
                as_of_month,
                MODEL_VERSION,
                stage,
                p_churn,
                p_alive,
                _maybe(expected, customer_id),
            )
        )
    stages = pd.Series([r[3] for r in rows]).value_counts().sort_index()
    metrics["stages"] = {str(k): int(v) for k, v in stages.items()}
    metrics["moved_by_models"] = moved
    params = {
        "churn_horizon_months": HORIZON_MONTHS,
        "expected_transactions_weeks": HORIZON_WEEKS,
        "decline_churn_probability": DECLINE_CHURN_PROBABILITY,
        "decline_probability_alive": DECLINE_PROBABILITY_ALIVE,
        "dormant_probability_alive": DORMANT_PROBABILITY_ALIVE,
        "bank_booked_types": list(BANK_BOOKED),
    }
    with connect(url) as conn, conn.transaction():
        run_id = start_run(
            conn, MODEL_NAME, MODEL_VERSION, as_of_month, params, fingerprint(features), window
        )
        replace_labels(
            conn,
            "customer_lifecycle",
            [
                "customer_id",
                "as_of_month",
                "model_version",
                "lifecycle_stage",
                "churn_probability",
                "probability_alive",
                "expected_transactions",
                "model_run_id",
            ],
            ((*row, run_id) for row in rows),
            as_of_month,
            MODEL_VERSION,
        )
        finish_run(conn, run_id, metrics, len(rows))
    churn_metrics = metrics["churn"]
    auc = churn_metrics.get("auc_time_split") if isinstance(churn_metrics, dict) else None
    log.info(
        "lifecycle %s: %d customers, %d moved by the models, churn AUC %s, stages %s",
        as_of_month,
        len(rows),
        moved,
        auc,
        metrics["stages"],
    )
    return LifecycleRun(
        run_id, as_of_month, len(rows), metrics["stages"], moved, auc, model.params_
    )


def _maybe(values: pd.Series, key: object) -> float | None:
    """A score for ``key``, or None where the model did not score it."""
    value = values.get(key)
    return None if value is None or pd.isna(value) else float(value)
