"""``load_berka``: a Berka folder into the core database and the file drops.

The core database gets schema ``core`` rebuilt from the contract (``sources.core_db``)
and every table written by COPY in one transaction, so a failed load leaves the previous
content. Files are written under ``data_dir`` in the drop layout the contract describes;
the list of files written is kept in ``data_dir/.berka_files`` so a later load removes
exactly what an earlier one wrote (day folders included) and nothing else. Same input,
same database rows and byte-identical files.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import yaml
from psycopg import Connection

from ingest.config import CONFIG_DIR, load_contract
from sources import core_db
from sources.berka import mapping
from sources.berka.reader import read_berka
from warehouse.db import connect
from warehouse.log import Progress, get_logger

log = get_logger("sources.berka")

CHUNK_ROWS = 200_000
MANIFEST = ".berka_files"
AS_OF_FILE = ".berka_as_of"


def _options(system: str) -> tuple[str, str]:
    """(drop folder, done marker) of a file-based source system, from its YAML."""
    doc = yaml.safe_load((CONFIG_DIR / f"{system}.yml").read_text(encoding="utf-8"))
    return str(doc["drop_folder"]), str(doc.get("done_marker") or "")


def _file_options(system: str, entity: str) -> tuple[str, str]:
    """(file name pattern, encoding) of one file entity."""
    options = load_contract(system)[entity].options
    return str(options["file"]), str(options.get("encoding", "utf-8"))


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _day_files(system: str, entity: str, frame: pd.DataFrame, day_column: str) -> dict[str, bytes]:
    """One folder per day (``YYYY-MM-DD``) with the day's rows and the done marker.

    The frame is rendered once and cut into days (our values hold no line breaks)."""
    folder, done = _options(system)
    pattern, encoding = _file_options(system, entity)
    frame = frame.sort_values(day_column, kind="stable", ignore_index=True)
    header = ",".join(frame.columns) + "\n"
    lines = frame.to_csv(index=False, header=False, lineterminator="\n").splitlines(True)
    if len(lines) != len(frame):
        raise ValueError(f"{system}.{entity}: a value holds a line break")
    days = frame[day_column].to_numpy()
    files: dict[str, bytes] = {}
    start = 0
    for day, size in pd.Series(days).value_counts(sort=False).sort_index().items():
        name = pattern.format(yyyymmdd=str(day).replace("-", ""))
        body = header + "".join(lines[start : start + size])
        files[f"{folder}/{day}/{name}"] = body.encode(encoding)
        if done:
            files[f"{folder}/{day}/{done}"] = b""
        start += size
    return files


def _closing_day(system: str, entity: str, frame: pd.DataFrame, as_of: date) -> dict[str, bytes]:
    """The extract's last day as a completed delivery, even when nothing happened that day.

    A daily file drop is complete for a day once its marker is there; marking the as-of
    day tells ingestion the extract is whole up to it (an empty file keeps the header).
    """
    folder, done = _options(system)
    pattern, encoding = _file_options(system, entity)
    name = pattern.format(yyyymmdd=f"{as_of:%Y%m%d}")
    header = ",".join(frame.columns) + "\n"
    files = {f"{folder}/{as_of.isoformat()}/{name}": header.encode(encoding)}
    if done:
        files[f"{folder}/{as_of.isoformat()}/{done}"] = b""
    return files


def render_files(
    cards: pd.DataFrame,
    policies: pd.DataFrame,
    references: dict[str, pd.DataFrame],
    as_of: date,
) -> dict[str, bytes]:
    """Every file of the drops, by path relative to the data folder."""
    files = _closing_day("cards", "cards", cards, as_of)
    files |= _closing_day("wealth", "insurance_policies", policies, as_of)
    files |= _day_files("cards", "cards", cards, "issued_on")
    files |= _day_files("wealth", "insurance_policies", policies, "start_date")
    folder, _ = _options("reference")
    for name, frame in references.items():
        pattern, encoding = _file_options("reference", name)
        files[f"{folder}/{pattern}"] = _csv_text(frame).encode(encoding)
    return files


def _read_manifest(data_dir: Path) -> set[str]:
    manifest = data_dir / MANIFEST
    if not manifest.is_file():
        return set()
    return {line for line in manifest.read_text(encoding="utf-8").splitlines() if line}


def _write_manifest(data_dir: Path, paths: set[str]) -> None:
    text = "".join(f"{p}\n" for p in sorted(paths))
    (data_dir / MANIFEST).write_text(text, encoding="utf-8")


def write_files(data_dir: Path, files: dict[str, bytes]) -> int:
    """Write the files, then delete those an earlier load wrote that are not written now.

    The manifest lists the union while files are written, so a killed run still knows
    everything it may have left behind. Files of others are never touched; a day folder
    that already holds some is reported once.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(data_dir)
    _write_manifest(data_dir, previous | set(files))
    folders = sorted({str(Path(p).parent) for p in files})
    foreign = [
        f"{folder}/{entry.name}"
        for folder in folders
        if (data_dir / folder).is_dir()
        for entry in (data_dir / folder).iterdir()
        if f"{folder}/{entry.name}" not in previous and f"{folder}/{entry.name}" not in files
    ]
    if foreign:
        log.warning(
            "%s files not written by a Berka load share its drop folders, e.g. %s",
            len(foreign),
            data_dir / foreign[0],
        )
    for folder in folders:
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        (data_dir / path).write_bytes(content)
    stale = previous - set(files)
    emptied: set[Path] = set()
    for path in stale:
        target = data_dir / path
        if target.is_file():
            target.unlink()
        emptied.update(p for p in target.parents if data_dir in p.parents)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    _write_manifest(data_dir, set(files))
    if stale:
        log.info("removed %s files of an earlier Berka load", len(stale))
    return len(files)


def _copy_chunks(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    progress = Progress(log, f"core.{table}")
    for start in range(0, len(frame), CHUNK_ROWS):
        progress.add(core_db.copy_frame(conn, table, frame.iloc[start : start + CHUNK_ROWS]))
    progress.done()
    return len(frame)


def load_berka(
    berka_dir: Path, core_url: str, data_dir: Path, *, as_of: date | None = None
) -> dict[str, int]:
    """Load a Berka folder: core banking into ``core_url``, file drops under ``data_dir``.

    ``as_of`` is the end of the data (default: the last transaction day); monthly balances
    and loan status run up to its month. Returns rows written per entity.
    """
    berka_dir, data_dir = Path(berka_dir), Path(data_dir)
    started = time.monotonic()
    extract = read_berka(berka_dir)
    log.info(
        "read %s: %s accounts, %s clients, %s transactions, %s loans, %s cards, %s orders "
        "in %.2f s",
        berka_dir,
        f"{len(extract.account):,}",
        f"{len(extract.client):,}",
        f"{len(extract.trans):,}",
        f"{len(extract.loan):,}",
        f"{len(extract.card):,}",
        f"{len(extract.order):,}",
        time.monotonic() - started,
    )
    end = mapping.extract_as_of(extract, as_of)
    mapped = time.monotonic()
    core = mapping.core_frames(extract, end)
    cards = mapping.cards_frame(extract)
    policies = mapping.insurance_frame(extract)
    references = mapping.reference_frames(extract, end)
    log.info("mapped onto the contract in %.2f s", time.monotonic() - mapped)

    counts: dict[str, int] = {}
    with connect(core_url, application="crm-berka") as conn:
        core_db.create_schema(conn, replace=True)
        for table in ("customers", "accounts", "transactions", "balances", "loan_status"):
            counts[table] = _copy_chunks(conn, table, getattr(core, table))
    as_of_day = date(1970, 1, 1) + timedelta(days=int(end))
    written = write_files(data_dir, render_files(cards, policies, references, as_of_day))
    (data_dir / AS_OF_FILE).write_text(as_of_day.isoformat() + "\n", encoding="utf-8")
    counts["cards"] = len(cards)
    counts["insurance_policies"] = len(policies)
    for name, frame in references.items():
        counts[name] = len(frame)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    log.info(
        "Berka load done: %s rows (%s transactions) and %s files in %.2f s (%s rows/s)",
        f"{total:,}",
        f"{counts['transactions']:,}",
        written,
        elapsed,
        f"{total / elapsed:,.0f}" if elapsed > 0 else "-",
    )
    return counts


def loaded_as_of(data_dir: Path) -> date | None:
    """The as-of day of the Berka extract last loaded into ``data_dir`` (None: none)."""
    path = Path(data_dir) / AS_OF_FILE
    if not path.is_file():
        return None
    return date.fromisoformat(path.read_text(encoding="utf-8").strip())
