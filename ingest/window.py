"""Which watermark window a batch extracts, so that re-runs replace exactly their interval.

The first interval ever loaded for a target takes everything before its end (the initial
full load); every later interval takes [start, end) of its watermark. A re-run reuses the
window of the batch it replaces, so re-running the first day reloads the full history
rather than losing it. Loading a day before the first loaded one would overlap the initial
load and is refused with the way out.
"""

from __future__ import annotations

from datetime import datetime

from ingest.landing import Batch, LoadError


def extraction_window(batch: Batch) -> tuple[datetime | None, datetime]:
    """(lower bound or None for "from the beginning", upper bound) of the watermark."""
    known, previous_from = batch.previous_window()
    if known:
        lower = None if previous_from is None else datetime.fromisoformat(previous_from)
    elif batch.has_earlier_batches():
        lower = batch.interval_start
    else:
        first = batch.first_loaded_interval()
        if first is not None and first > batch.interval_start:
            raise LoadError(
                f"{batch.target_name}: {batch.interval_start:%Y-%m-%d} is before the first "
                f"loaded interval {first:%Y-%m-%d}, whose initial load already holds the "
                "history before it; re-run from that day, or drop the raw table and its "
                "batches (crm ingest reset) to reload from an earlier day"
            )
        lower = None
    batch.extract_from = None if lower is None else lower.isoformat()
    batch.extract_to = batch.interval_end.isoformat()
    return lower, batch.interval_end
