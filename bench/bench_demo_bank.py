"""Demo-bank generation speed and memory: transactions per second into the world store.

Targets (issue #3): at least 1 million transactions/s into files (the transaction
generator's own rate: drawing core and card transactions, balancing them, writing Parquet;
the whole run's rate, which includes customers, balances, loans and the other systems, is
printed too), and the bench scale
(100,000 customers, 36 months) in under 5 minutes with peak memory under 4 GiB.

    .venv/bin/python bench/bench_demo_bank.py --customers 100000 --months 36

Prints the figures; writes into a temporary folder that it removes afterwards.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.simulate import simulate
from warehouse.log import setup_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no per-month progress lines")
    args = parser.parse_args()
    setup_logging("WARNING" if args.quiet else "INFO")
    folder = Path(tempfile.mkdtemp(prefix="bench-demo-bank-"))
    try:
        cfg = DemoBankConfig(customers=args.customers, months=args.months, seed=args.seed)
        started = time.perf_counter()
        world = simulate(cfg, Layout(folder))
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    core = world.counts.get("transactions", 0)
    cards = world.counts.get("card_transactions", 0)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale:                 {args.customers:,} customers x {args.months} months")
    print(f"wall time:             {seconds:,.1f} s")
    print(f"core transactions:     {core:,}  ({core / seconds:,.0f} rows/s)")
    print(f"card transactions:     {cards:,}")
    print(
        f"all transactions:      {core + cards:,}  ({(core + cards) / seconds:,.0f} rows/s "
        "over the whole run)"
    )
    spent = world.transaction_seconds
    print(
        f"transaction generator: {spent:,.1f} s generating and writing them "
        f"({(core + cards) / spent:,.0f} rows/s)"
    )
    print(f"all world rows:        {sum(world.counts.values()):,}")
    print(f"world store on disk:   {size / 2**20:,.0f} MiB")
    print(f"peak memory (RSS):     {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
