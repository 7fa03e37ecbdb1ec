"""Defects on demand: realistic bad input injected into days the demo bank has published.

The ingestion stage must quarantine every bad row with the right rule, or fail the batch
with a clear message, and never drop anything silently. To prove it, ``inject_defects``
damages a share of the files and rows of the given published days and writes a manifest
of exactly what it did, where, so tests can compare what ingestion reported.

Kinds, and where each one can land (F = file-level, whole file; R = one row):

======================  ==  ===========================================================
``malformed_line``      R   CSV: a row with one field too many (a delimiter inside a
                            value, unquoted) or one too few (a field and its delimiter
                            gone). JSONL: a line that is not JSON (closing brace missing,
                            or a trailing comma before it).
``wrong_type``          R   CSV/JSONL: a non-key typed column holds a value that does not
                            parse as its contract type ("five", "12,5O", "2024-13-45",
                            "maybe" ...); in JSONL always as a JSON string.
``duplicate_key``       R   CSV/JSONL/Parquet: an exact copy of a row inserted right after
                            it (the manifest line is the copy's).
``orphan_reference``    R   A ``customer_id``/``account_id``/``card_id`` that is not the
                            entity's own key set to ``9_999_999_000 + n``, never issued.
                            Core DB: ``core.transactions.account_id`` updated to such a value.
``future_date``         R   The first non-key date/timestamp column of a file row moved to
                            year 2099 (same month, day and time). Core DB: the row's
                            ``updated_at`` moved to 2099; ``txn_ts`` is left alone so the row
                            stays inside its day's extraction window.
``invalid_encoding``    R   CSV/JSONL: bytes that are invalid in the declared encoding put in
                            the middle of a non-key text value, non-ASCII when there is
                            one (GBK: ``FF FE``; UTF-8: ``C3 28``); nothing else in the
                            file is invalid.
``missing_column``      F   A required column removed (CSV: header and values; JSONL: the
                            key on every line; Parquet: the column).
``extra_column``        F   An unexpected column added (CSV: at a random position; JSONL: a
                            key on every line; Parquet: appended).
``empty_file``          F   CSV or Parquet truncated to 0 bytes. (A 0-byte JSONL file is the
                            normal way to deliver no rows, so JSONL never gets this kind.)
``truncated_file``      F   CSV/JSONL: cut in the middle of the middle data row, everything
                            after it lost and no final newline (a CSV keeps fewer fields on
                            that line than the header). Parquet: first half of the bytes.
======================  ==  ===========================================================

Rules: each file of the day folders (``_DONE`` excluded, and left in place) gets a
file-level defect with probability ``rate``; the kind goes round-robin over the file-level
kinds the file can take. Files without one get row-level defects: each data row with
probability ``rate``, kinds round-robin over those that fit the file. A row gets at most one
defect; key columns are never changed except when a reference column is part of the key
(wealth holdings), and the manifest ``key`` is the key as it reads after the change.
Everything is drawn from ``numpy`` generators seeded by (seed, day, file), so the same
inputs give the same bytes. Core banking: each transaction of the day (by ``txn_ts``, UTC)
with probability ``rate``, alternating ``orphan_reference`` and ``future_date``.

The manifest is ``<layout.root>/defects/manifest.jsonl``, one JSON object per defect with
``day system entity target kind line key column value detail``: ``target`` is the path
relative to the data folder (or ``core.transactions``), ``line`` the 1-based physical line
(a CSV header is line 1; null for file-level and Parquet defects, whose row is in
``detail``), ``value`` the injected text or id when there is one. Processed days are kept in
``<layout.root>/defects/days.json``; a day already there is skipped, so running again
for the same days injects nothing. A rate of 0 changes and writes nothing at all. A fresh
``generate`` must call ``clear_defects`` (the files are new, the record would be stale).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.config import EntityContract, load_contract
from sources.demo_bank.config import Layout
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("sources.demo_bank.defects")

ROW_KINDS = (
    "malformed_line",
    "wrong_type",
    "duplicate_key",
    "orphan_reference",
    "future_date",
    "invalid_encoding",
)
FILE_KINDS = ("missing_column", "extra_column", "empty_file", "truncated_file")
KINDS = ROW_KINDS + FILE_KINDS

# Kept here rather than imported from publish, which will import this module.
FILE_SYSTEMS = ("cards", "service", "wealth")
DONE = "_DONE"

ORPHAN_BASE = 9_999_999_000
FUTURE_YEAR = 2099
REFERENCE_COLUMNS = ("customer_id", "account_id", "card_id")
# Invalid byte sequences, as surrogate escapes of the text being edited.
BAD_BYTES = {"gbk": "\udcff\udcfe", "utf-8": "\udcc3("}
WRONG_VALUES = {
    "int": ("five", "12.5", "N/A"),
    "numeric": ("12,5O", "1.234.56", "--"),
    "date": ("2024-13-45", "2024-02-30", "2024-00-10"),
    "timestamp": ("2024-13-45 25:61:00+0000", "not-a-time"),
    "bool": ("maybe", "Y/N"),
}
EXTRA_COLUMNS = (("batch_no", "B{yyyymmdd}"), ("remark", "n/a"), ("source_flag", "Y"))


def manifest_path(layout: Layout) -> Path:
    return layout.root / "defects" / "manifest.jsonl"


def days_path(layout: Layout) -> Path:
    return layout.root / "defects" / "days.json"


def read_manifest(layout: Layout) -> list[dict]:
    path = manifest_path(layout)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def clear_defects(layout: Layout) -> None:
    """Forget injected defects (call when the demo bank is generated anew)."""
    for path in (manifest_path(layout), days_path(layout)):
        path.unlink(missing_ok=True)


def inject_defects(
    layout: Layout, core_url: str, days: list[date], rate: float, seed: int
) -> list[dict]:
    """Damage about ``rate`` of the files and rows of published ``days``; return the entries.

    Days already processed are skipped; ``rate`` 0 touches nothing.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"rate={rate}: use 0..1")
    wanted = sorted(set(days))
    if rate == 0 or not wanted:
        return []
    for day in wanted:
        if not any((layout.drop(s) / day.isoformat()).is_dir() for s in FILE_SYSTEMS):
            raise ValueError(
                f"{day} is not published: no folder {layout.drop('cards') / day.isoformat()}"
            )
    done = _processed_days(layout)
    contracts = {system: load_contract(system) for system in FILE_SYSTEMS}
    written: list[dict] = []
    skipped = [day for day in wanted if day.isoformat() in done]
    if skipped:
        log.info("defects were injected already for %d of the days; skipped", len(skipped))
    for day in wanted:
        if day in skipped:
            continue
        entries = _inject_day(layout, contracts, core_url, day, rate, seed)
        _record(layout, day, entries, rate, seed)
        written.extend(entries)
    if written:
        counts: dict[str, int] = {}
        for entry in written:
            counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
        log.info("injected %d defects: %s", len(written), counts)
    return written


# --- bookkeeping -------------------------------------------------------------------------


def _processed_days(layout: Layout) -> set[str]:
    path = days_path(layout)
    days = set(json.loads(path.read_text())) if path.exists() else set()
    # Entries in the manifest also count, should a run stop between the two writes.
    return days | {str(entry["day"]) for entry in read_manifest(layout)}


def _record(layout: Layout, day: date, entries: list[dict], rate: float, seed: int) -> None:
    folder = manifest_path(layout).parent
    folder.mkdir(parents=True, exist_ok=True)
    if entries:
        with manifest_path(layout).open("a", encoding="utf-8") as out:
            for entry in entries:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    path = days_path(layout)
    days = json.loads(path.read_text()) if path.exists() else {}
    days[day.isoformat()] = {"rate": rate, "seed": seed, "defects": len(entries)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(days, indent=1, sort_keys=True))
    tmp.replace(path)


def _rng(seed: int, day: date, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), zlib.crc32(name.encode())])


# --- what a file is ----------------------------------------------------------------------


class _Target:
    """One file of a day folder, with the contract facts the defects need."""

    def __init__(self, system: str, contract: EntityContract, path: Path, rel: str) -> None:
        self.system, self.contract, self.path, self.rel = system, contract, path, rel
        c = contract
        self.fmt = str(c.options["format"])
        self.encoding = codecs.lookup(str(c.options.get("encoding", "utf-8"))).name
        self.names = c.column_names
        self.family = {col.name: col.family for col in c.columns}
        plain = [col for col in c.columns if col.name not in c.primary_key]
        self.typed = [col.name for col in plain if self.family[col.name] != "text"]
        self.dates = [
            col.name
            for col in plain
            if self.family[col.name] in ("date", "timestamp") and not col.nullable
        ][:1]
        self.texts = [
            col.name for col in plain if self.family[col.name] == "text" and not col.nullable
        ]
        self.refs = [
            n for n in self.names if n in REFERENCE_COLUMNS and tuple(c.primary_key) != (n,)
        ]
        self.required = [col.name for col in c.columns if not col.nullable]

    def row_kinds(self) -> list[str]:
        fits = {
            "malformed_line": self.fmt != "parquet",
            "wrong_type": self.fmt != "parquet" and bool(self.typed),
            "duplicate_key": True,
            "orphan_reference": bool(self.refs),
            "future_date": bool(self.dates),
            "invalid_encoding": self.fmt != "parquet" and bool(self.texts),
        }
        return [kind for kind in ROW_KINDS if fits[kind]]

    def typed_value(self, column: str, value: object) -> object:
        if self.family[column] == "int" and isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value


@dataclass
class _Day:
    day: date
    rate: float
    seed: int
    orphans: int = 0
    entries: list[dict] = field(default_factory=list)

    def orphan_id(self) -> int:
        self.orphans += 1
        return ORPHAN_BASE + self.orphans - 1

    def entry(
        self,
        target: _Target | None,
        kind: str,
        detail: str,
        *,
        line: int | None = None,
        key: dict | None = None,
        column: str | None = None,
        value: object = None,
    ) -> dict:
        entry = {
            "day": self.day.isoformat(),
            "system": target.system if target else "core_banking",
            "entity": target.contract.name if target else "transactions",
            "target": target.rel if target else "core.transactions",
            "kind": kind,
            "line": line,
            "key": key,
            "column": column,
            "value": value,
            "detail": detail,
        }
        self.entries.append(entry)
        return entry


def _targets(
    layout: Layout, contracts: dict[str, dict[str, EntityContract]], day: date
) -> list[_Target]:
    found = []
    for system in FILE_SYSTEMS:
        folder = layout.drop(system) / day.isoformat()
        if not folder.is_dir():
            continue
        by_name = {
            str(spec.options["file"]).format(yyyymmdd=f"{day:%Y%m%d}"): spec
            for spec in contracts[system].values()
        }
        for path in sorted(folder.iterdir()):
            if path.name in by_name and path.is_file():
                rel = path.relative_to(layout.data_dir).as_posix()
                found.append(_Target(system, by_name[path.name], path, rel))
    return found


def _inject_day(
    layout: Layout,
    contracts: dict[str, dict[str, EntityContract]],
    core_url: str,
    day: date,
    rate: float,
    seed: int,
) -> list[dict]:
    ctx = _Day(day, rate, seed)
    rotation = int(_rng(seed, day, "file-level").integers(len(FILE_KINDS)))
    changes: dict[Path, bytes] = {}
    for target in _targets(layout, contracts, day):
        rng = _rng(seed, day, target.rel)
        data = target.path.read_bytes()
        handler = _HANDLERS[target.fmt](ctx, target, data, rng)
        new = None
        if rng.random() < rate:
            fits = handler.file_kinds()
            if fits:
                order = FILE_KINDS[rotation:] + FILE_KINDS[:rotation]
                kind = next(k for k in order if k in fits)
                rotation = FILE_KINDS.index(kind) + 1
                new = handler.file_defect(kind)
        else:
            new = handler.row_defects()
        if new is not None and new != data:
            changes[target.path] = new
    # Everything is decided before anything is written; the database (which can fail on
    # its own) first, then the files, each replaced whole.
    _core_defects(ctx, core_url)()
    for path, new in changes.items():
        tmp = path.with_name(f".{path.name}.defects")
        tmp.write_bytes(new)
        tmp.replace(path)
    return ctx.entries


# --- CSV ---------------------------------------------------------------------------------


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()[:-1]


def _future_text(value: str) -> str:
    rest = value[4:]
    if rest.startswith("-02-29"):
        rest = "-02-28" + rest[6:]
    return f"{FUTURE_YEAR}{rest}"


def _future_value(value: datetime | date) -> datetime | date:
    day = 28 if (value.month, value.day) == (2, 29) else value.day
    return value.replace(year=FUTURE_YEAR, day=day)


def _text_column(rng: np.random.Generator, values: dict[str, object]) -> str:
    """A text column to corrupt: one holding non-ASCII text (names, Chinese) if any."""
    wide = [c for c, v in values.items() if isinstance(v, str) and not v.isascii()]
    filled = [c for c, v in values.items() if v]
    return str(rng.choice(wide or filled or list(values)))


def _bad_text(value: str, encoding: str) -> str:
    half = len(value) // 2
    return value[:half] + BAD_BYTES[encoding] + value[half:]


class _TextFile:
    """Shared by CSV and JSONL: records with their raw text, reassembled by lines."""

    def __init__(self, ctx: _Day, target: _Target, data: bytes, rng: np.random.Generator):
        self.ctx, self.target, self.rng = ctx, target, rng
        self.text = data.decode(target.encoding, errors="surrogateescape")
        self.header = 0
        self.raws: list[str] = []

    def encode(self, text: str) -> bytes:
        return text.encode(self.target.encoding, errors="surrogateescape")

    def row_defects(self) -> bytes | None:
        rows = len(self.raws) - self.header
        picked = np.flatnonzero(self.rng.random(rows) < self.ctx.rate) + self.header
        if not len(picked):
            return None
        kinds = self.target.row_kinds()
        offset = int(self.rng.integers(len(kinds)))
        chunks = [[raw] for raw in self.raws]
        pending: list[tuple[int, int, dict]] = []
        for j, index in enumerate(picked):
            kind = kinds[(offset + j) % len(kinds)]
            out, entry = self.row_defect(kind, int(index))
            chunks[index] = out
            pending.append((int(index), len(out) - 1, entry))
        starts: dict[tuple[int, int], int] = {}
        line = 1
        for i, parts in enumerate(chunks):
            for k, part in enumerate(parts):
                starts[i, k] = line
                line += part.count("\n") + 1
        for index, k, entry in pending:
            entry["line"] = starts[index, k]
            if entry["kind"] == "duplicate_key":
                entry["detail"] = f"exact copy of line {starts[index, 0]}: {entry['detail']}"
        return self.encode("\n".join(p for parts in chunks for p in parts) + "\n")

    def row_defect(self, kind: str, index: int) -> tuple[list[str], dict]:
        raise NotImplementedError

    def cut(self) -> bytes:
        """The file cut in the middle of its middle data row."""
        rows = len(self.raws) - self.header
        index = self.header + rows // 2
        kept = "\n".join(self.raws[:index])
        partial = self.partial_row(index)
        line = kept.count("\n") + 2 if kept else 1
        self.ctx.entry(
            self.target,
            "truncated_file",
            f"cut in the middle of line {line} (data row {index - self.header + 1} of "
            f"{rows}); no newline at the end, {rows - (index - self.header) - 1} rows after "
            "it lost",
        )
        return self.encode(f"{kept}\n{partial}" if kept else partial)

    def partial_row(self, index: int) -> str:
        raise NotImplementedError


class _CsvFile(_TextFile):
    def __init__(self, ctx: _Day, target: _Target, data: bytes, rng: np.random.Generator):
        super().__init__(ctx, target, data, rng)
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.records: list[list[str]] = []
        reader = csv.reader(io.StringIO(self.text))
        start = 0
        for fields in reader:
            self.records.append(fields)
            self.raws.append("\n".join(lines[start : reader.line_num]))
            start = reader.line_num
        self.header = 1 if self.records else 0
        self.columns = self.records[0] if self.records else []

    def file_kinds(self) -> list[str]:
        if not self.records:
            return []
        kinds = ["missing_column", "extra_column", "empty_file"]
        return [*kinds, "truncated_file"] if len(self.records) > 1 else kinds

    def file_defect(self, kind: str) -> bytes:
        ctx, target = self.ctx, self.target
        if kind == "empty_file":
            ctx.entry(target, kind, f"truncated to 0 bytes (was {len(self.raws)} lines)")
            return b""
        if kind == "truncated_file":
            return self.cut()
        if kind == "missing_column":
            column = str(self.rng.choice(target.required))
            at = self.columns.index(column)
            rows = [r[:at] + r[at + 1 :] for r in self.records]
            ctx.entry(
                target, kind, f"required column {column} removed (header and values)", column=column
            )
        else:
            name, value = EXTRA_COLUMNS[int(self.rng.integers(len(EXTRA_COLUMNS)))]
            value = value.format(yyyymmdd=f"{ctx.day:%Y%m%d}")
            at = int(self.rng.integers(len(self.columns) + 1))
            rows = [
                [*r[:at], name if i == 0 else value, *r[at:]] for i, r in enumerate(self.records)
            ]
            ctx.entry(
                target,
                kind,
                f"unexpected column {name} added as column {at + 1} of {len(self.columns) + 1}",
                column=name,
            )
        return self.encode("".join(_csv_line(r) + "\n" for r in rows))

    def key(self, fields: list[str]) -> dict:
        t = self.target
        return {k: t.typed_value(k, fields[self.columns.index(k)]) for k in t.contract.primary_key}

    def row_defect(self, kind: str, index: int) -> tuple[list[str], dict]:
        ctx, target, rng = self.ctx, self.target, self.rng
        fields = list(self.records[index])
        width = len(self.columns)
        column: str | None = None
        value: object = None
        if kind == "duplicate_key":
            entry = ctx.entry(target, kind, "same primary key twice", key=self.key(fields))
            return [self.raws[index], self.raws[index]], entry
        if kind == "malformed_line":
            column = str(rng.choice(target.texts or self.columns))
            at = self.columns.index(column)
            original = fields[at]
            if rng.random() < 0.5:
                half = len(original) // 2
                fields[at : at + 1] = [original[:half], original[half:]]
                detail = (
                    f"unquoted delimiter inside {column}: {width + 1} fields, header has {width}"
                )
            else:
                del fields[at]
                detail = f"field {column} and its delimiter missing: {width - 1} fields of {width}"
            key = self.key(self.records[index])
            entry = ctx.entry(target, kind, detail, key=key, column=column)
            return [_csv_line(fields)], entry
        if kind == "wrong_type":
            column = str(rng.choice(target.typed))
            value = str(rng.choice(WRONG_VALUES[target.family[column]]))
            detail = f"{column} = {value!r} is not a {target.family[column]}"
        elif kind == "orphan_reference":
            column = str(rng.choice(target.refs))
            value = ctx.orphan_id()
            detail = f"{column} {fields[self.columns.index(column)]} -> {value}, never issued"
        elif kind == "future_date":
            column = target.dates[0]
            value = _future_text(fields[self.columns.index(column)])
            detail = f"{column} {fields[self.columns.index(column)]} -> {value}"
        else:  # invalid_encoding
            column = _text_column(rng, {c: fields[self.columns.index(c)] for c in target.texts})
            old = fields[self.columns.index(column)]
            value = None
            bad = self.encode(BAD_BYTES[target.encoding]).hex(" ")
            detail = f"bytes {bad} (invalid {target.encoding}) inside {column} {old!r}"
        at = self.columns.index(column)
        fields[at] = (
            _bad_text(fields[at], target.encoding) if kind == "invalid_encoding" else str(value)
        )
        entry = ctx.entry(target, kind, detail, key=self.key(fields), column=column, value=value)
        return [_csv_line(fields)], entry

    def partial_row(self, index: int) -> str:
        fields = self.records[index]
        half = len(fields) // 2
        head = _csv_line(fields[:half]) if half else ""
        rest = _csv_line([fields[half]]) if half < len(fields) else ""
        return f"{head},{rest[: len(rest) // 2]}"


# --- JSON lines --------------------------------------------------------------------------


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class _JsonlFile(_TextFile):
    def __init__(self, ctx: _Day, target: _Target, data: bytes, rng: np.random.Generator):
        super().__init__(ctx, target, data, rng)
        self.raws = [line for line in self.text.split("\n") if line]

    def file_kinds(self) -> list[str]:
        return ["missing_column", "extra_column", "truncated_file"] if self.raws else []

    def file_defect(self, kind: str) -> bytes:
        ctx, target = self.ctx, self.target
        if kind == "truncated_file":
            return self.cut()
        records = [json.loads(raw) for raw in self.raws]
        if kind == "missing_column":
            column = str(self.rng.choice(target.required))
            for record in records:
                record.pop(column, None)
            ctx.entry(target, kind, f"required key {column} removed from every line", column=column)
        else:
            name, value = EXTRA_COLUMNS[int(self.rng.integers(len(EXTRA_COLUMNS)))]
            value = value.format(yyyymmdd=f"{ctx.day:%Y%m%d}")
            for record in records:
                record[name] = value
            ctx.entry(target, kind, f"unexpected key {name} added to every line", column=name)
        return self.encode("".join(_dumps(r) + "\n" for r in records))

    def row_defect(self, kind: str, index: int) -> tuple[list[str], dict]:
        ctx, target, rng = self.ctx, self.target, self.rng
        raw = self.raws[index]
        record = json.loads(raw)
        key = {k: record.get(k) for k in target.contract.primary_key}
        if kind == "duplicate_key":
            return [raw, raw], ctx.entry(target, kind, "same primary key twice", key=key)
        if kind == "malformed_line":
            if rng.random() < 0.5:
                broken, detail = raw[:-1], "closing brace missing: not valid JSON"
            else:
                broken, detail = raw[:-1] + ",}", "trailing comma before the closing brace"
            return [broken], ctx.entry(target, kind, detail, key=key)
        value: object
        if kind == "wrong_type":
            column = str(rng.choice(target.typed))
            value = str(rng.choice(WRONG_VALUES[target.family[column]]))
            detail = f"{column} = {value!r} is not a {target.family[column]}"
            record[column] = value
        elif kind == "orphan_reference":
            column = str(rng.choice(target.refs))
            value = ctx.orphan_id()
            detail = f"{column} {record[column]} -> {value}, never issued"
            record[column] = value
        elif kind == "future_date":
            column = target.dates[0]
            value = _future_text(str(record[column]))
            detail = f"{column} {record[column]} -> {value}"
            record[column] = value
        else:  # invalid_encoding
            column = _text_column(rng, {c: record.get(c) for c in target.texts})
            value = None
            bad = self.encode(BAD_BYTES[target.encoding]).hex(" ")
            detail = f"bytes {bad} (invalid {target.encoding}) inside {column} {record[column]!r}"
            record[column] = _bad_text(str(record[column] or ""), target.encoding)
        key = {k: record.get(k) for k in target.contract.primary_key}
        entry = ctx.entry(target, kind, detail, key=key, column=column, value=value)
        return [_dumps(record)], entry

    def partial_row(self, index: int) -> str:
        raw = self.raws[index]
        return raw[: len(raw) // 2]


# --- Parquet -----------------------------------------------------------------------------


class _ParquetFile:
    def __init__(self, ctx: _Day, target: _Target, data: bytes, rng: np.random.Generator):
        self.ctx, self.target, self.rng, self.data = ctx, target, rng, data

    def _write(self, table: pa.Table) -> bytes:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    def file_kinds(self) -> list[str]:
        return list(FILE_KINDS)

    def file_defect(self, kind: str) -> bytes:
        ctx, target = self.ctx, self.target
        if kind == "empty_file":
            ctx.entry(target, kind, f"truncated to 0 bytes (was {len(self.data)})")
            return b""
        if kind == "truncated_file":
            half = len(self.data) // 2
            ctx.entry(target, kind, f"cut to its first {half} of {len(self.data)} bytes")
            return self.data[:half]
        table = pq.read_table(io.BytesIO(self.data)).replace_schema_metadata(None)
        if kind == "missing_column":
            column = str(self.rng.choice(target.required))
            table = table.drop_columns([column])
            ctx.entry(target, kind, f"required column {column} removed", column=column)
        else:
            name, value = EXTRA_COLUMNS[int(self.rng.integers(len(EXTRA_COLUMNS)))]
            value = value.format(yyyymmdd=f"{ctx.day:%Y%m%d}")
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
            ctx.entry(target, kind, f"unexpected column {name} added", column=name)
        return self._write(table)

    def row_defects(self) -> bytes | None:
        ctx, target, rng = self.ctx, self.target, self.rng
        table = pq.read_table(io.BytesIO(self.data))
        picked = np.flatnonzero(rng.random(table.num_rows) < ctx.rate)
        if not len(picked):
            return None
        kinds = target.row_kinds()
        offset = int(rng.integers(len(kinds)))
        columns: dict[str, list] = {}
        copies: set[int] = set()
        pending: list[tuple[int, dict]] = []
        keys = {k: table.column(k).to_pylist() for k in target.contract.primary_key}
        for j, index in enumerate(int(i) for i in picked):
            kind = kinds[(offset + j) % len(kinds)]
            column: str | None = None
            value: object = None
            if kind == "duplicate_key":
                copies.add(index)
                detail = "same primary key twice"
            else:
                if kind == "orphan_reference":
                    column = str(rng.choice(target.refs))
                else:
                    column = target.dates[0]
                if column not in columns:
                    columns[column] = table.column(column).to_pylist()
                values = columns[column]
                old = values[index]
                if kind == "orphan_reference":
                    values[index] = value = ctx.orphan_id()
                    detail = f"{column} {old} -> {value}, never issued"
                else:
                    values[index] = _future_value(old)
                    value = values[index].isoformat()
                    detail = f"{column} {old.isoformat()} -> {value}"
                if column in keys:
                    keys[column][index] = values[index]
            key = {k: target.typed_value(k, v[index]) for k, v in keys.items()}
            entry = ctx.entry(target, kind, detail, key=key, column=column, value=value)
            pending.append((index, entry))
        for name, values in columns.items():
            at = table.schema.get_field_index(name)
            table = table.set_column(at, name, pa.array(values, table.schema.field(at).type))
        order = [
            i for index in range(table.num_rows) for i in [index] * (2 if index in copies else 1)
        ]
        if copies:
            table = table.take(pa.array(order, pa.int64()))
        row_of = {}
        for position, index in enumerate(order):
            row_of[index] = position + 1  # the copy when there are two
        for index, entry in pending:
            row = row_of[index]
            if entry["kind"] == "duplicate_key":
                entry["detail"] = f"row {row} is an exact copy of row {row - 1}"
            else:
                entry["detail"] = f"row {row}: {entry['detail']}"
        return self._write(table)


_HANDLERS = {"csv": _CsvFile, "jsonl": _JsonlFile, "parquet": _ParquetFile}


# --- core banking ------------------------------------------------------------------------


def _core_defects(ctx: _Day, core_url: str) -> Callable[[], None]:
    """Choose the day's core-banking defects now; return the function that writes them."""
    start = datetime(ctx.day.year, ctx.day.month, ctx.day.day, tzinfo=UTC)
    with connect(core_url) as conn:
        rows = conn.execute(
            "select txn_id, account_id, updated_at from core.transactions"
            " where txn_ts >= %s and txn_ts < %s order by txn_id",
            (start, start + timedelta(days=1)),
        ).fetchall()
    rng = _rng(ctx.seed, ctx.day, "core.transactions")
    picked = np.flatnonzero(rng.random(len(rows)) < ctx.rate)
    offset = int(rng.integers(2))
    accounts: list[tuple[int, int]] = []
    stamps: list[tuple[int, datetime]] = []
    for j, index in enumerate(int(i) for i in picked):
        txn_id, account_id, updated_at = rows[index]
        key = {"txn_id": txn_id}
        if (offset + j) % 2 == 0:
            orphan = ctx.orphan_id()
            accounts.append((txn_id, orphan))
            ctx.entry(
                None,
                "orphan_reference",
                f"account_id {account_id} -> {orphan}, never issued",
                key=key,
                column="account_id",
                value=orphan,
            )
        else:
            future = _future_value(updated_at)
            stamps.append((txn_id, future))
            ctx.entry(
                None,
                "future_date",
                f"updated_at {updated_at.isoformat()} -> {future.isoformat()} (txn_ts unchanged)",
                key=key,
                column="updated_at",
                value=future.isoformat(),
            )

    def write() -> None:
        if not accounts and not stamps:
            return
        with connect(core_url) as conn:
            for column, kind, pairs in (
                ("account_id", "bigint", accounts),
                ("updated_at", "timestamptz", stamps),
            ):
                if pairs:
                    conn.execute(
                        f"update core.transactions t set {column} = v.x"
                        f" from unnest(%s::bigint[], %s::{kind}[]) as v(id, x)"
                        " where t.txn_id = v.id",
                        ([p[0] for p in pairs], [p[1] for p in pairs]),
                    )

    return write
