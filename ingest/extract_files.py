"""File drops: CSV (UTF-8 or GBK), Parquet and JSON lines, one folder per business day.

A day's folder counts only once its done marker is there. Lines are decoded one by one,
so a byte sequence that is invalid in the declared encoding costs that row (quarantined as
``invalid_encoding``), not the file. Whole-file problems fail the batch with a message
naming the file: no header, a required column missing, an unreadable Parquet file, a file
cut off in the middle of a line. Columns the contract does not know are kept in ``_extra``
and reported as schema drift.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.config import EntityContract
from ingest.landing import (
    FUTURE_GRACE,
    RAW_CONTENT_LIMIT,
    Batch,
    LoadError,
    LoadResult,
    NotReady,
    Rejected,
    open_batch,
)
from ingest.rows import RowChecker
from ingest.window import extraction_window
from warehouse.log import Progress, get_logger

log = get_logger("ingest.files")

_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Delivery:
    """One file of one day (``path`` None: an optional file the day did not carry)."""

    day: date | None
    path: Path | None
    rel: str


@dataclass(frozen=True)
class Record:
    values: dict[str, object]
    row_number: int
    raw: str
    extra: dict[str, object] | None


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def deliveries(
    entity: EntityContract,
    data_dir: Path,
    interval: tuple[datetime, datetime],
    lower: datetime | None,
) -> list[Delivery]:
    """The files a batch reads: the interval's days (all earlier ones too on a first load)."""
    options = entity.system_options
    root = data_dir / str(options["drop_folder"])
    pattern = str(entity.options["file"])
    marker = options.get("done_marker")
    if not marker:
        path = root / pattern
        if not path.is_file():
            raise LoadError(f"{entity.system}: {path} is missing (a full extract is expected)")
        return [Delivery(None, path, path.relative_to(data_dir).as_posix())]
    if not root.is_dir():
        raise NotReady(f"{entity.system}: no drop folder {root} yet")
    wanted = _days(*interval)
    days = set(wanted)
    first_wanted = wanted[0]
    for folder in root.iterdir():
        if folder.is_dir() and _DAY_FOLDER.match(folder.name):
            day = date.fromisoformat(folder.name)
            earlier = day < first_wanted and (lower is None or day >= lower.date())
            if earlier:
                days.add(day)
    found = []
    for day in sorted(days):
        folder = root / day.isoformat()
        if not folder.is_dir():
            raise NotReady(f"{entity.system}: no delivery for {day} yet ({folder} missing)")
        if not (folder / str(marker)).exists():
            raise NotReady(
                f"{entity.system}: delivery {folder} is not complete yet (no {marker} marker)"
            )
        name = pattern.format(yyyymmdd=f"{day:%Y%m%d}")
        path = folder / name
        rel = path.relative_to(data_dir).as_posix()
        if not path.is_file():
            if entity.options.get("optional"):
                found.append(Delivery(day, None, rel))
                continue
            raise LoadError(
                f"{entity.system}: {rel} is missing from the completed delivery of {day}"
            )
        found.append(Delivery(day, path, rel))
    return found


# --- readers ------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline); a last line without newline is flagged."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.endswith(b"\n"):
                yield number, line[:-1].rstrip(b"\r")
            else:
                yield -number, line  # negative: no final newline


def _decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _shown(data: bytes, encoding: str) -> str:
    return data.decode(encoding, errors="backslashreplace")[:RAW_CONTENT_LIMIT]


class _Reader:
    def __init__(self, entity: EntityContract, batch: Batch, delivery: Delivery) -> None:
        self.entity = entity
        self.batch = batch
        self.delivery = delivery
        self.where = f"{entity.system}: {delivery.rel}"
        self.encoding = str(entity.options.get("encoding", "utf-8"))

    def check_columns(self, present: list[str], everywhere: bool = True) -> set[str]:
        """Fail on a missing required column; report the rest; return the extra names."""
        known = set(self.entity.column_names)
        missing = [c for c in self.entity.column_names if c not in present]
        required = [c for c in missing if c in self.entity.required]
        if required and everywhere:
            raise LoadError(
                f"{self.where}: required column(s) {required} missing "
                f"(the file has {', '.join(present) or 'no columns'})"
            )
        self.batch.drift("missing_columns", missing)
        extra = [c for c in present if c not in known]
        self.batch.drift("extra_columns", extra)
        return set(extra)

    def malformed(self, number: int, message: str, text: str) -> Rejected:
        return Rejected(
            "malformed_line",
            message,
            number,
            None,
            None,
            text[:RAW_CONTENT_LIMIT],
            self.delivery.rel,
        )

    def bad_encoding(self, number: int, data: bytes) -> Rejected:
        return Rejected(
            "invalid_encoding",
            f"line {number} holds bytes that are not valid {self.encoding}",
            number,
            None,
            None,
            _shown(data, self.encoding),
            self.delivery.rel,
        )

    def truncated(self, number: int) -> LoadError:
        return LoadError(
            f"{self.where}: the file ends in the middle of line {number} (no final newline): "
            "the delivery is truncated; ask the sender to deliver it again"
        )


class CsvReader(_Reader):
    def records(self) -> Iterator[Record | Rejected]:
        path = self.delivery.path
        assert path is not None
        if path.stat().st_size == 0:
            raise LoadError(f"{self.where}: empty file (0 bytes, not even a header line)")
        lines = _lines(path)
        number, first = next(lines)
        if number < 0:
            raise self.truncated(-number)
        header_text = _decode(first, self.encoding)
        if header_text is None:
            raise LoadError(f"{self.where}: the header line is not valid {self.encoding}")
        header = next(csv.reader([header_text]))
        extra = self.check_columns(header)
        width = len(header)
        for number, data in lines:
            if number < 0:
                # Every line of a complete delivery ends with a newline; a cut one may even
                # keep its field count (an amount 12.34 cut to 12), so it cannot be trusted.
                raise self.truncated(-number)
            text = _decode(data, self.encoding)
            if text is None:
                yield self.bad_encoding(number, data)
                continue
            if not text:
                yield self.malformed(number, "empty line", "")
                continue
            fields = next(csv.reader([text]))
            if len(fields) != width:
                yield self.malformed(
                    number, f"{len(fields)} fields where the header has {width}", text
                )
                continue
            row = dict(zip(header, fields, strict=True))
            yield Record(
                row,
                number,
                text,
                {k: row[k] for k in extra} if extra else None,
            )


class JsonLinesReader(_Reader):
    def records(self) -> Iterator[Record | Rejected]:
        path = self.delivery.path
        assert path is not None
        known = set(self.entity.column_names)
        absent = dict.fromkeys(self.entity.column_names, 0)
        seen_extra: set[str] = set()
        parsed = 0
        for number, data in _lines(path):
            last = number < 0
            number = abs(number)
            text = _decode(data, self.encoding)
            if text is None:
                yield self.bad_encoding(number, data)
                continue
            if not text.strip():
                if last:
                    continue
                yield self.malformed(number, "empty line", "")
                continue
            try:
                value = json.loads(text, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                if last:
                    raise self.truncated(number) from None
                yield self.malformed(
                    number, f"not a JSON object: {exc.msg} at column {exc.colno}", text
                )
                continue
            if not isinstance(value, dict):
                yield self.malformed(number, f"a JSON {type(value).__name__}, not an object", text)
                continue
            parsed += 1
            for name in absent:
                if name not in value:
                    absent[name] += 1
            extra = {k: v for k, v in value.items() if k not in known}
            seen_extra.update(extra)
            yield Record(value, number, text[:RAW_CONTENT_LIMIT], extra or None)
        # A key absent from every object is a column the file lacks.
        if parsed:
            missing = [name for name, count in absent.items() if count == parsed]
            self.check_columns([c for c in self.entity.column_names if c not in missing])
        self.batch.drift("extra_columns", sorted(seen_extra))


class ParquetReader(_Reader):
    def records(self) -> Iterator[Record | Rejected]:
        path = self.delivery.path
        assert path is not None
        if path.stat().st_size == 0:
            raise LoadError(f"{self.where}: empty file (0 bytes, not a Parquet file)")
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise LoadError(
                f"{self.where}: not a readable Parquet file (truncated or corrupt): {exc}"
            ) from None
        present = parquet.schema_arrow.names
        extra = self.check_columns(present)
        number = 0
        try:
            for chunk in parquet.iter_batches(batch_size=65_536):
                columns = {name: chunk.column(name).to_pylist() for name in chunk.schema.names}
                names = list(columns)
                for values in zip(*columns.values(), strict=True):
                    number += 1
                    row = dict(zip(names, values, strict=True))
                    yield Record(
                        row,
                        number,
                        json.dumps(row, ensure_ascii=False, default=str)[:RAW_CONTENT_LIMIT],
                        {k: row[k] for k in extra} if extra else None,
                    )
        except (pa.ArrowException, OSError) as exc:
            raise LoadError(
                f"{self.where}: reading row group after row {number} failed: {exc}"
            ) from None


READERS: dict[str, type[_Reader]] = {
    "csv": CsvReader,
    "jsonl": JsonLinesReader,
    "parquet": ParquetReader,
}


def load_files(
    entity: EntityContract,
    data_dir: Path,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
) -> LoadResult:
    """Load one file entity's deliveries for the interval into raw."""
    source_tag = f"{entity.system}:{entity.source_object}"
    incremental = bool(entity.system_options.get("done_marker"))
    with open_batch(warehouse_url, entity, interval_start, interval_end, source_tag) as batch:
        lower = extraction_window(batch)[0] if incremental else None
        files = deliveries(entity, data_dir, (interval_start, interval_end), lower)
        checker = RowChecker(entity, interval_end + FUTURE_GRACE)
        progress = Progress(log, f"load {source_tag} -> {batch.target_name}")
        received = 0
        for delivery in files:
            if delivery.path is None:
                log.info("%s: no %s in this delivery (optional)", entity.system, delivery.rel)
                continue
            checker.new_delivery(delivery.rel)
            batch.set_source(f"{entity.system}:{delivery.rel}")
            reader = READERS[str(entity.options["format"])](entity, batch, delivery)
            rejected: list[Rejected] = []
            with batch.copy_in() as copy:
                for item in reader.records():
                    received += 1
                    if isinstance(item, Rejected):
                        rejected.append(item)
                        continue
                    line = checker.check(item.values, item.row_number, item.raw, item.extra)
                    if isinstance(line, Rejected):
                        rejected.append(line)
                    else:
                        copy.write(line)
                    progress.add(1)
            batch.quarantine(rejected)
            if rejected:
                log.warning("%s: %d row(s) quarantined", delivery.rel, len(rejected))
        if entity.references:
            batch.quarantine_orphans(entity.references)
        batch.received = received
        progress.done()
    assert batch.result is not None
    return batch.result
