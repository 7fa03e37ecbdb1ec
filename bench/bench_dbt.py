"""dbt build: a full build against one daily incremental run, at the bench scale.

Target (issue #5): at bench scale (100,000 customers, 36 months) the daily incremental
`dbt build` (the next day loaded, then `dbt build`) costs at most 10% of the full
build (`dbt build --full-refresh`) over the same warehouse.

    .venv/bin/python bench/bench_dbt.py                                 # bench scale
    .venv/bin/python bench/bench_dbt.py --customers 10000 --months 36   # a quicker check

Starts its own embedded Postgres in a temporary state folder on a free port (or
`--state-dir`, `--port`), never the developer's `.crm`; generates the demo bank up to the
first day, loads every source system for it (the first load: the whole history), times a
full build, publishes and loads the next day and times the incremental build.
Generation and loading are timed and printed apart: they are not what the target is about.
Each build mode in BUILD_MODES is measured the same way on the same data: plain `dbt build`,
and the same build orchestrated through Airflow (the DAG `warehouse_build`: astronomer-cosmos,
one dbt build and one task per model); the second is also printed as a ratio to the first
(target: at most 1.3x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import warehouse.dbt
from ingest.tasks import load_every_system
from sources.demo_bank.bank import advance, bank_date, generate
from sources.demo_bank.config import DemoBankConfig, Layout
from warehouse.airflow_runner import dags_test, migrate_metadata
from warehouse.bootstrap import ensure_ready
from warehouse.db import connect
from warehouse.dbt import dbt_target_path, run_dbt
from warehouse.embedded import server_for
from warehouse.log import setup_logging
from warehouse.settings import Settings

TARGET_RATIO = 0.10


def free_port() -> int:
    """A port nobody listens on now, for the benchmark's own Postgres."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def next_day(day: date) -> date:
    """What the pipeline's next run loads: it runs every day (weekends too; a run that
    skipped them would leave their rows unloaded)."""
    return day + timedelta(days=1)


def period_start(day: date, months: int) -> date:
    """First month of a ``months``-long simulation whose last month holds ``day``."""
    year, month = divmod(day.month - 1 - (months - 1), 12)
    return date(day.year + year, month + 1, 1)


@dataclass
class Build:
    """One timed build: wall seconds, and dbt's own timing per node from run_results.json."""

    mode: str
    kind: str
    seconds: float
    node_seconds: dict[str, float] = field(default_factory=dict)

    def top(self, count: int) -> list[tuple[str, float]]:
        return sorted(self.node_seconds.items(), key=lambda item: -item[1])[:count]

    def by_type(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for node, seconds in self.node_seconds.items():
            kind = node.split(".")[0]
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals


def _node_seconds(settings: Settings) -> dict[str, float]:
    """dbt's execution time per node, keyed `<type>.<name>`; tests of staging models (views
    over every raw version) are keyed `staging_test.<name>` to be told apart."""
    target = dbt_target_path(settings)
    results = json.loads((target / "run_results.json").read_text())
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    seconds = {}
    for result in results["results"]:
        node = nodes.get(result["unique_id"], {})
        key = result["unique_id"].replace("crm_warehouse.", "")
        if key.startswith("test.") and node.get("original_file_path", "").startswith(
            "models/staging"
        ):
            key = "staging_" + key
        seconds[key] = float(result["execution_time"])
    return seconds


def settle(settings: Settings) -> None:
    """VACUUM ANALYZE the warehouse: after a full build, autovacuum catching up on its
    writes (tens of millions of rows) would otherwise run during the timed daily build."""
    with connect(settings.warehouse_url, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def plain_dbt(settings: Settings, full_refresh: bool, exclude: str | None = None) -> Build:
    """`dbt build` (with `--full-refresh` for the full build) in a child process."""
    args = ["build", "--full-refresh"] if full_refresh else ["build"]
    if exclude:
        args += ["--exclude", exclude]
    started = time.perf_counter()
    run_dbt(args, settings.warehouse_url, settings)
    seconds = time.perf_counter() - started
    kind = "full" if full_refresh else "incremental"
    if exclude:
        kind += f" --exclude {exclude}"
    return Build("plain dbt", kind, seconds, _node_seconds(settings))


def orchestrated_dbt(settings: Settings, full_refresh: bool, exclude: str | None = None) -> Build:
    """The same build through Airflow: `airflow dags test warehouse_build` (astronomer-cosmos,
    one dbt build and a task per model), as `crm run --dag-id warehouse_build` runs it."""
    if exclude:
        raise SystemExit("--daily-exclude measures plain dbt only")
    started = time.perf_counter()
    dags_test(
        settings,
        "warehouse_build",
        date.today().isoformat(),
        echo=lambda line: None,
        conf={"full_refresh": full_refresh},
    )
    seconds = time.perf_counter() - started
    kind = "full" if full_refresh else "incremental"
    # dbt writes its run_results.json into Cosmos' temporary copy of the project, gone by
    # now: no per-node times for this mode.
    return Build("airflow + cosmos", kind, seconds, {})


# Build modes measured on the same data, in this order. Each builds everything once, full
# (``full_refresh=True``) or incrementally, and returns its timing; the first entry is the
# baseline the others are compared with.
BUILD_MODES: dict[str, Callable[..., Build]] = {
    "plain dbt": plain_dbt,
    "airflow + cosmos": orchestrated_dbt,
}


def mart_rows(settings: Settings) -> dict[str, int]:
    """Rows of every table in the marts schema (exact counts)."""
    with connect(settings.warehouse_url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE'"
                " order by table_name"
            ).fetchall()
        ]
        return {
            name: int(conn.execute(f'select count(*) from marts."{name}"').fetchone()[0])
            for name in tables
        }


def print_build(build: Build, top: int) -> None:
    print(f"  {build.mode}, {build.kind}: {build.seconds:,.1f} s wall")
    if not build.node_seconds:
        return
    totals = ", ".join(f"{k} {v:,.1f} s" for k, v in sorted(build.by_type().items()))
    print(f"    dbt node time by type (summed over threads): {totals}")
    for node, seconds in build.top(top):
        print(f"    {seconds:9.1f} s  {node}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--date",
        type=date.fromisoformat,
        default=date(2026, 1, 13),
        help="first day loaded (its month is the last simulated one; the next days, one "
        "per build mode, must fall in it too)",
    )
    parser.add_argument("--state-dir", type=Path, help="keep the warehouse here (default: temp)")
    parser.add_argument("--port", type=int, help="Postgres port (default: a free one)")
    parser.add_argument(
        "--project-dir",
        type=Path,
        help="dbt project to build (default dbt_project/; e.g. a copy frozen for the run)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --state-dir: keep a warehouse already generated and loaded for --date",
    )
    parser.add_argument(
        "--daily-exclude",
        metavar="SELECTOR",
        help="then one more day, built incrementally with `--exclude SELECTOR` "
        "(e.g. 'resource_type:test,path:models/staging'), to show what those nodes cost",
    )
    parser.add_argument("--top", type=int, default=12, help="slowest dbt nodes to print")
    parser.add_argument("--modes", nargs="+", default=list(BUILD_MODES), choices=list(BUILD_MODES))
    parser.add_argument(
        "--full-modes",
        nargs="*",
        choices=list(BUILD_MODES),
        help="the modes that also time a full build (default all; the others time the "
        "daily incremental build only, e.g. when a full build takes half an hour; none "
        "given: daily builds only)",
    )
    args = parser.parse_args()
    setup_logging("WARNING")
    if args.project_dir:
        warehouse.dbt.DBT_PROJECT_DIR = args.project_dir.absolute()
    first_day: date = args.date
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    settings = Settings.from_env(
        {
            "CRM_STATE_DIR": str(state),
            "CRM_PG_PORT": str(args.port or free_port()),
            "CRM_API_PORT": str(free_port()),
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_SOURCE": "demo",
        }
    )
    layout = Layout(settings.data_dir)
    load_before = os.getloadavg()[0]
    try:
        say(f"embedded Postgres in {state} on port {settings.pg_port}")
        ensure_ready(settings)
        if "airflow + cosmos" in args.modes:
            migrate_metadata(settings)
        cfg = DemoBankConfig(
            customers=args.customers,
            months=args.months,
            seed=args.seed,
            start=period_start(first_day, args.months),
        )
        generate_s = load_first_s = 0.0
        first_rows: dict[str, int] = {}
        if args.reuse and bank_date(layout) == first_day:
            say(f"reusing the demo bank and warehouse loaded for {first_day}")
        else:
            say(f"generating the demo bank: {cfg.customers:,} customers x {cfg.months} months")
            started = time.perf_counter()
            generate(cfg, layout, settings.core_banking_url, as_of=first_day)
            generate_s = time.perf_counter() - started
            say(f"loading {first_day} (the first load: all history)")
            started = time.perf_counter()
            first_rows = load_every_system(settings, first_day)
            load_first_s = time.perf_counter() - started
        builds: dict[str, dict[str, Build]] = {}
        loads: list[tuple[date, float, float, int]] = []
        rows_full: dict[str, int] = {}
        day = first_day
        # Each mode: a full build of the warehouse as it stands, then the next
        # day published and loaded, then its incremental build (a second mode runs one
        # day later: one more day of data, the same shape of work).
        for mode in args.modes:
            builds[mode] = {}
            if args.full_modes is None or mode in args.full_modes:
                say(f"{mode}: full build")
                builds[mode]["full"] = BUILD_MODES[mode](settings, True)
                rows_full = rows_full or mart_rows(settings)
            say("vacuum analyze (the maintenance a night between two runs gives)")
            settle(settings)
            day = next_day(day)
            if day.month != first_day.month:
                raise SystemExit(f"{day} leaves the simulated month: pick an earlier --date")
            say(f"publishing and loading the next day {day}")
            started = time.perf_counter()
            advance(layout, settings.core_banking_url, day)
            publish_s = time.perf_counter() - started
            started = time.perf_counter()
            loaded = load_every_system(settings, day)
            loads.append((day, publish_s, time.perf_counter() - started, sum(loaded.values())))
            say(f"{mode}: incremental build")
            builds[mode]["incremental"] = BUILD_MODES[mode](settings, False)
            if args.daily_exclude:
                day = next_day(day)
                if day.month != first_day.month:
                    raise SystemExit(f"{day} leaves the simulated month: pick an earlier --date")
                say(f"publishing and loading {day}, built without {args.daily_exclude}")
                started = time.perf_counter()
                advance(layout, settings.core_banking_url, day)
                publish_s = time.perf_counter() - started
                started = time.perf_counter()
                loaded = load_every_system(settings, day)
                loads.append((day, publish_s, time.perf_counter() - started, sum(loaded.values())))
                builds[mode]["excluding"] = BUILD_MODES[mode](
                    settings, False, exclude=args.daily_exclude
                )
        rows_after = mart_rows(settings)
    finally:
        if settings.embedded:
            server_for(settings).stop()
        if args.state_dir is None:
            shutil.rmtree(state, ignore_errors=True)
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"dbt benchmark: {args.customers:,} customers x {args.months} months, first day "
        f"{first_day}; {os.cpu_count()} CPUs, load average "
        f"{load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(
        f"generate {generate_s:,.1f} s; load {first_day} {load_first_s:,.1f} s "
        f"({sum(first_rows.values()):,} rows, "
        f"{first_rows.get('raw.core_banking__transactions', 0):,} transactions)"
    )
    for day, publish_s, load_s, count in loads:
        print(f"next day {day}: publish {publish_s:,.1f} s, load {load_s:,.1f} s ({count:,} rows)")
    for mode, pair in builds.items():
        if "full" in pair:
            print_build(pair["full"], args.top)
        print_build(pair["incremental"], args.top)
        if "full" in pair:
            ratio = pair["incremental"].seconds / pair["full"].seconds
            verdict = "meets" if ratio <= TARGET_RATIO else "misses"
            print(
                f"  {mode}: incremental / full = {ratio:.3f} ({verdict} the target "
                f"<= {TARGET_RATIO:.2f})"
            )
        if "excluding" in pair:
            print_build(pair["excluding"], args.top)
            print(
                f"  {mode}: incremental without {args.daily_exclude} / full = "
                f"{pair['excluding'].seconds / pair['full'].seconds:.3f}"
            )
    if len(builds) > 1:
        base = next(iter(builds))
        for mode in list(builds)[1:]:
            for kind in ("full", "incremental"):
                if kind not in builds[mode] or kind not in builds[base]:
                    continue
                ratio = builds[mode][kind].seconds / builds[base][kind].seconds
                print(f"  {mode} / {base}, {kind}: {ratio:.2f}x")
    print("rows per mart (after the full build -> after the incremental build):")
    for name, count in rows_after.items():
        print(f"  {name:<45} {rows_full.get(name, 0):>12,} -> {count:>12,}")
    print(
        f"peak RSS: this process {peak_self:,.0f} MiB (loads), largest child "
        f"{peak_child:,.0f} MiB (dbt); Postgres not included"
    )


if __name__ == "__main__":
    main()
