"""Who the demo bank's customers are, and the latent path each one takes.

Drawn once per simulation: identities, wealth (lognormal), digital habits, when each
customer joins, and, for those who will leave, when decline, dormancy and churn begin.
Products follow from wealth, age and what else the customer holds (so products that
belong together are held together). Months are indexed from the simulation start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sources.demo_bank import people
from sources.demo_bank.config import DemoBankConfig

NEVER = 10_000  # a month index beyond any simulation

STAGES = np.array(["prospect", "new", "growth", "mature", "decline", "dormant", "churned"])


@dataclass
class Population:
    frame: pd.DataFrame  # one row per customer, static attributes and latent path

    @property
    def n(self) -> int:
        return len(self.frame)


def _days_in_month(year: int, month: int) -> int:
    return (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days


def draw_population(cfg: DemoBankConfig, rng: np.random.Generator) -> Population:
    n = cfg.customers
    ids = np.arange(1, n + 1, dtype=np.int64)
    corporate = rng.random(n) < cfg.corporate_share
    city_weights = np.array([c.weight for c in people.CITIES])
    city_index = rng.choice(len(people.CITIES), size=n, p=city_weights / city_weights.sum())
    cities = np.array([c.name for c in people.CITIES])[city_index]
    branch = np.array(
        [
            people.branch_code(int(c) + 1, int(b) + 1)
            for c, b in zip(city_index, rng.integers(people.BRANCHES_PER_CITY, size=n), strict=True)
        ]
    )

    # Age skews to working age; birth dates are exact days.
    age_years = np.clip(rng.gamma(6.0, 7.0, size=n) + 18, 18, 88)
    birth = np.array(
        [cfg.start - timedelta(days=int(a * 365.25)) for a in age_years], dtype="datetime64[D]"
    )
    male = rng.random(n) < 0.5

    # Lognormal wealth: the top fifth holds most of the balances.
    wealth = np.where(corporate, rng.lognormal(13.2, 1.0, n), rng.lognormal(10.0, 1.35, n))
    wealth_rank = pd.Series(wealth).rank(pct=True).to_numpy()
    digital = np.clip(rng.beta(2.5, 2.0, n) * (1.25 - (age_years - 18) / 100), 0.02, 0.98)

    # 60% were customers before the simulation starts; the rest join during it.
    existing = rng.random(n) < 0.6
    join_month = np.where(existing, -1 - rng.integers(0, 120, n), rng.integers(0, cfg.months, n))
    join_day = rng.integers(0, 28, n)
    joined_on = np.array(
        [_month_day(cfg.start, int(m), int(d)) for m, d in zip(join_month, join_day, strict=True)],
        dtype="datetime64[D]",
    )

    # Churn: a per-customer hazard (lower for the wealthy); before leaving, the customer
    # declines for 2-6 months and is dormant for 1-3.
    hazard = cfg.churn_hazard * np.clip(
        np.exp(-0.5 * (np.log(wealth) - np.log(wealth).mean())), 0.3, 3.0
    )
    hazard = np.where(corporate, hazard * 0.5, hazard)
    # Existing customers can be anywhere on their path at the start (even declining);
    # new ones leave no earlier than a year after joining.
    eligible_from = np.where(join_month < 0, 0, join_month + 12)
    waiting = rng.geometric(np.clip(hazard, 1e-6, 0.99))
    churn_month = eligible_from + waiting - 1
    dormant_len = rng.integers(1, 4, n)
    decline_len = rng.integers(2, 7, n)
    dormant_month = churn_month - dormant_len
    decline_month = dormant_month - decline_len
    # Customers who leave after the period may already decline (or sleep) within it.
    churn_month = np.where(churn_month < cfg.months, churn_month, NEVER)
    dormant_month = np.where(dormant_month < cfg.months, dormant_month, NEVER)
    decline_month = np.where(decline_month < cfg.months, decline_month, NEVER)

    # A few corporates are key accounts rising or falling steadily.
    key_trend = np.zeros(n, dtype=np.int8)
    corporates = np.flatnonzero(corporate & (churn_month == NEVER))
    if len(corporates) and cfg.key_account_trends:
        picked = rng.choice(
            corporates, size=min(cfg.key_account_trends, len(corporates)), replace=False
        )
        key_trend[picked] = np.where(rng.random(len(picked)) < 0.5, 1, -1)

    names = np.where(corporate, people.company_names(rng, n, cities), people.person_names(rng, n))
    area = np.array([c.area_code for c in people.CITIES])[city_index]
    national_id = np.where(
        corporate, people.credit_codes(rng, n), people.national_ids(rng, area, birth, male)
    )
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_type": np.where(corporate, "corporate", "individual"),
            "full_name": names,
            "national_id": national_id,
            "mobile": people.mobiles(rng, n),
            "gender": np.where(corporate, None, np.where(male, "M", "F")),
            "birth_date": np.where(corporate, None, birth.astype(object)),
            "city": cities,
            "address": people.addresses(rng, cities),
            "occupation": np.where(
                corporate, None, people.OCCUPATIONS[rng.integers(len(people.OCCUPATIONS), size=n)]
            ),
            "branch_code": branch,
            "joined_on": joined_on.astype(object),
            "join_month": join_month,
            "age_years": age_years,
            "corporate": corporate,
            "wealth": wealth,
            "wealth_rank": wealth_rank,
            "digital": digital,
            "decline_month": decline_month,
            "dormant_month": dormant_month,
            "churn_month": churn_month,
            "key_trend": key_trend,
        }
    )
    return Population(frame)


def _month_day(start: date, month_index: int, day: int) -> date:
    year, month = divmod(start.month - 1 + month_index, 12)
    first = date(start.year + year, month + 1, 1)
    return first + timedelta(days=min(day, _days_in_month(first.year, first.month) - 1))


def stage_codes(pop: Population, month: int) -> np.ndarray:
    """Latent stage index (into STAGES) of every customer in ``month``."""
    f = pop.frame
    age = month - f["join_month"].to_numpy()
    stage = np.full(pop.n, 3)  # mature
    stage = np.where(age < 12, 2, stage)
    stage = np.where(age < 3, 1, stage)
    stage = np.where(month >= f["decline_month"].to_numpy(), 4, stage)
    stage = np.where(month >= f["dormant_month"].to_numpy(), 5, stage)
    stage = np.where(month >= f["churn_month"].to_numpy(), 6, stage)
    return np.where(age < 0, 0, stage)


def engagement(pop: Population, month: int) -> np.ndarray:
    """How active each customer is in ``month``, 0..1 (key accounts may exceed 1)."""
    f = pop.frame
    stage = stage_codes(pop, month)
    age = month - f["join_month"].to_numpy()
    growth = 0.45 + 0.55 * np.clip((age - 3) / 9, 0, 1)
    decline_len = np.maximum(f["dormant_month"].to_numpy() - f["decline_month"].to_numpy(), 1)
    into_decline = np.clip((month - f["decline_month"].to_numpy()) / decline_len, 0, 1)
    level = np.select(
        [stage == 0, stage == 1, stage == 2, stage == 3, stage == 4, stage == 5, stage == 6],
        [0.0, 0.35, growth, 1.0, 1.0 - 0.75 * into_decline, 0.03, 0.0],
    )
    trend = f["key_trend"].to_numpy()
    return level * np.where(trend > 0, 1.07**month, np.where(trend < 0, 0.93**month, 1.0))
