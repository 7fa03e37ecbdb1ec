"""The demo bank's two operations: generate a history, and advance the bank date."""

from __future__ import annotations

from datetime import date, timedelta

from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.publish import publish
from sources.demo_bank.simulate import simulate
from warehouse.log import get_logger

log = get_logger("sources.demo_bank")


def generate(
    cfg: DemoBankConfig, layout: Layout, core_url: str, as_of: date | None = None
) -> dict[str, int]:
    """Simulate the whole period, then publish it up to ``as_of`` (default: its last day).

    Regenerating with the same configuration gives byte-identical extracts.
    """
    last_day = cfg.end - timedelta(days=1)
    as_of = as_of or last_day
    if not cfg.start <= as_of <= last_day:
        raise ValueError(f"--as-of {as_of} must fall in {cfg.start} .. {last_day}")
    world = simulate(cfg, layout)
    layout.write_state({"config": cfg.to_json(), "bank_date": None})
    counts = publish(layout, cfg, core_url, as_of)
    log.info(
        "demo bank generated in %.1f s: %s world rows",
        world.seconds,
        f"{sum(world.counts.values()):,}",
    )
    return {**{f"world.{k}": v for k, v in world.counts.items()}, **counts}


def advance(layout: Layout, core_url: str, to: date) -> dict[str, int]:
    """Publish the days after the current bank date up to ``to`` (new and changed rows)."""
    if not layout.state_file.exists():
        raise ValueError(f"no demo bank in {layout.root}: run `crm demo-bank generate` first")
    state = layout.read_state()
    cfg = DemoBankConfig.from_json(state["config"])  # type: ignore[arg-type]
    return publish(layout, cfg, core_url, to)


def bank_date(layout: Layout) -> date | None:
    if not layout.state_file.exists():
        return None
    value = layout.read_state().get("bank_date")
    return date.fromisoformat(str(value)) if value else None


def ensure_published(
    layout: Layout,
    core_url: str,
    day: date,
    *,
    customers: int = 300,
    months: int = 6,
    seed: int = 42,
) -> dict[str, int]:
    """Make the demo bank stand at ``day`` at least: reuse, advance, or generate anew.

    A bank already past ``day`` is left alone, so re-running a pipeline day changes
    nothing in the sources; a bank whose period does not cover ``day`` is regenerated
    with ``day`` in its last month.
    """
    current = bank_date(layout)
    if current is not None:
        cfg = DemoBankConfig.from_json(layout.read_state()["config"])  # type: ignore[arg-type]
        if cfg.start <= day < cfg.end:
            if day > current:
                return advance(layout, core_url, day)
            return {}
    first = date(day.year, day.month, 1)
    year, month = divmod(first.month - 1 - (months - 1), 12)
    start = date(first.year + year, month + 1, 1)
    cfg = DemoBankConfig(customers=customers, months=months, seed=seed, start=start)
    return generate(cfg, layout, core_url, as_of=day)
