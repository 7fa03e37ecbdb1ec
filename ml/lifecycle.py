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

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

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
            total = log_likelihood(params, x, t_x_s, big_t_s).sum()
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
