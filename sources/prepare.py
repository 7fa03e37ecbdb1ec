"""Bring the chosen bank's source systems to a business day before a pipeline run."""

from __future__ import annotations

from datetime import date, timedelta

from warehouse.log import get_logger
from warehouse.settings import Settings

log = get_logger("sources.prepare")


class SourceDateMismatch(ValueError):
    """The run's date does not match what the chosen extract can deliver."""


def prepare_source(settings: Settings, core_url: str, day: date) -> dict[str, int]:
    """Demo bank: generated or advanced to ``day``. Berka: its extract, which must end on it."""
    if settings.source == "berka":
        from sources.berka import load_berka, loaded_as_of

        counts = load_berka(settings.berka_dir, core_url, settings.data_dir)
        as_of = loaded_as_of(settings.data_dir)
        if as_of != day:
            raise SourceDateMismatch(
                f"the Berka extract in {settings.berka_dir} ends on {as_of}, the run is for "
                f"{day}: run the pipeline for {as_of} (`crm run` picks it when CRM_SOURCE=berka)"
            )
        return counts
    from sources.demo_bank.bank import ensure_published
    from sources.demo_bank.config import Layout

    return ensure_published(Layout(settings.data_dir), core_url, day)


def berka_run_date(settings: Settings) -> date:
    """The business day a Berka run is for: the extract's last day."""
    from sources.berka import read_berka
    from sources.berka.mapping import extract_as_of

    end = extract_as_of(read_berka(settings.berka_dir))
    return date(1970, 1, 1) + timedelta(days=int(end))
