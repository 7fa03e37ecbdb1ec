"""A tiny, deterministic core-banking database for the walking-skeleton pipeline.

It plays the core-banking system just well enough for every stage to run for real:
customers with personal data (names, national id numbers with valid GB 11643 check
digits, mobile numbers) and their accounts with lognormal balances. The full demo bank
(all six systems, lifecycle behaviour, defects on demand) replaces it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("sources.tiny_bank")

SCHEMA = "core"

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬")
_BRANCHES = ["BJ001", "BJ002", "SH001", "SH002", "GZ001", "SZ001", "CD001", "WH001"]
_AREA_CODES = ["110101", "110105", "310101", "310115", "440103", "440305", "510104", "420102"]
_PRODUCTS = ["CURRENT", "SAVINGS", "TERM_DEPOSIT", "LOAN"]
_RATES = {"CURRENT": 0.0020, "SAVINGS": 0.0050, "TERM_DEPOSIT": 0.0175, "LOAN": 0.0435}

DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.customers (
    customer_id bigint primary key,
    full_name text not null,
    national_id char(18) not null,
    mobile text not null,
    gender char(1) not null check (gender in ('F', 'M')),
    birth_date date not null,
    branch_code text not null,
    joined_on date not null,
    updated_at timestamptz not null
);
create table if not exists {SCHEMA}.accounts (
    account_id bigint primary key,
    customer_id bigint not null references {SCHEMA}.customers (customer_id),
    product_code text not null,
    currency char(3) not null,
    balance numeric(18, 2) not null,
    interest_rate numeric(8, 5) not null,
    opened_on date not null,
    closed_on date,
    updated_at timestamptz not null
);
"""

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def gb11643_check_digit(first17: str) -> str:
    """The 18th character of a PRC resident id number (ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


@dataclass(frozen=True)
class TinyBank:
    customers: int = 300
    seed: int = 7
    as_of: date = date(2026, 1, 31)

    def _rows(self) -> tuple[list[tuple], list[tuple]]:
        rng = np.random.default_rng(self.seed)
        customers: list[tuple] = []
        accounts: list[tuple] = []
        account_id = 100_000
        for customer_id in range(1, self.customers + 1):
            gender = "F" if rng.random() < 0.5 else "M"
            birth = date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 55)))
            area = _AREA_CODES[int(rng.integers(len(_AREA_CODES)))]
            sequence = int(rng.integers(0, 99)) * 10 + (1 if gender == "M" else 2) * 1
            first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
            national_id = first17 + gb11643_check_digit(first17)
            name = _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "".join(
                _GIVEN[int(i)] for i in rng.integers(len(_GIVEN), size=int(rng.integers(1, 3)))
            )
            mobile = (
                "1"
                + str(int(rng.choice([38, 39, 58, 86, 88])))
                + f"{int(rng.integers(0, 10**8)):08d}"
            )
            branch = _BRANCHES[int(rng.integers(len(_BRANCHES)))]
            joined = self.as_of - timedelta(days=int(rng.integers(30, 3650)))
            updated = datetime.combine(joined, datetime.min.time(), UTC) + timedelta(hours=9)
            customers.append(
                (customer_id, name, national_id, mobile, gender, birth, branch, joined, updated)
            )
            # Lognormal wealth: a few customers hold most of the balances.
            wealth = float(rng.lognormal(mean=9.0, sigma=1.4))
            n_accounts = int(rng.integers(0, 4))
            for _ in range(n_accounts):
                account_id += 1
                product = _PRODUCTS[int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1]))]
                balance = round(wealth * float(rng.uniform(0.2, 1.0)), 2)
                opened = joined + timedelta(days=int(rng.integers(0, 60)))
                closed = opened + timedelta(days=400) if rng.random() < 0.1 else None
                if closed and closed > self.as_of:
                    closed = None
                updated_acct = datetime.combine(closed or opened, datetime.min.time(), UTC)
                accounts.append(
                    (
                        account_id,
                        customer_id,
                        product,
                        "CNY",
                        balance,
                        _RATES[product],
                        opened,
                        closed,
                        updated_acct,
                    )
                )
        return customers, accounts

    def write(self, url: str) -> dict[str, int]:
        """(Re)create the tables' content; the same seed always gives the same rows."""
        customers, accounts = self._rows()
        with connect(url) as conn:
            conn.execute(DDL)
            conn.execute(f"truncate {SCHEMA}.accounts, {SCHEMA}.customers")
            for table, rows in (("customers", customers), ("accounts", accounts)):
                with conn.cursor().copy(f"copy {SCHEMA}.{table} from stdin") as copy:
                    copy.write(_to_copy_text(rows))
        log.info("tiny bank written: %d customers, %d accounts", len(customers), len(accounts))
        return {"customers": len(customers), "accounts": len(accounts)}


def _to_copy_text(rows: list[tuple]) -> str:
    out = io.StringIO()
    for row in rows:
        out.write("\t".join(r"\N" if v is None else str(v) for v in row))
        out.write("\n")
    return out.getvalue()
