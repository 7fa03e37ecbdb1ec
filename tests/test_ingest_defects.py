"""Ingestion against the demo bank's injected defects (acceptance of issue #4).

A small demo bank is generated for real with a defect rate high enough that every kind of
``sources.demo_bank.defects`` lands, in every format it can land in, and then loaded day by
day: core banking first (customers, accounts and transactions: the entities the files
reference and the one the core defects hit), then, day after day, each file system's
entities in configuration order; one batch per entity and day, starting on the first
published day so that the initial load covers nothing but that day. Core banking goes
first for the whole span because its database holds the state of the last day: loaded
interleaved, a customer whose row changed later would look unknown on earlier days.

What must hold, per the issue:

* every row-level defect is in ``quarantine.rejected_rows`` with the right rule, in the
  right file, at the right line (Parquet: row) and in the batch of its day;
* every whole-file defect fails that entity's batch of that day with a message naming the
  file and the problem (an extra column instead commits, reported as schema drift and kept
  in ``_extra``), and the next day loads regardless;
* received = loaded + quarantined for every batch, and both agree with what really landed;
* nothing else is quarantined and every clean line is loaded. The one legitimate source of
  extra quarantine rows is a cascade: a card whose own row was refused (or whose cards file
  failed) is unknown in raw, so its card transactions and annual fees are orphans too.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import fresh_database

from ingest.config import EntityContract, load_system
from ingest.landing import LoadError
from ingest.load import Sources, load_entity
from sources.demo_bank.bank import generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.defects import EXTRA_COLUMNS, FILE_KINDS, KINDS, ROW_KINDS, read_manifest
from warehouse.db import connect

# Seed, rate and span chosen so that every kind reaches every format it can take (checked
# below); more complaints and surveys than the default give the JSON-lines files rows.
CFG = DemoBankConfig(
    customers=300,
    months=2,
    seed=2,
    defect_rate=0.15,
    complaint_rate=0.05,
    survey_rate=0.5,
)
DAYS = [CFG.start + timedelta(days=i) for i in range(31)]
CORE_ENTITIES = ("customers", "accounts", "transactions")
FILE_SYSTEMS = ("cards", "service", "wealth")
CORE_TARGET = "core.transactions"

# Where each kind can land (sources/demo_bank/defects.py, module docstring).
FORMATS = {
    "malformed_line": {"csv", "jsonl"},
    "wrong_type": {"csv", "jsonl"},
    "duplicate_key": {"csv", "jsonl", "parquet"},
    "orphan_reference": {"csv", "jsonl", "parquet", "sql"},
    "future_date": {"csv", "jsonl", "parquet", "sql"},
    "invalid_encoding": {"csv", "jsonl"},
    "missing_column": {"csv", "jsonl", "parquet"},
    "extra_column": {"csv", "jsonl", "parquet"},
    "empty_file": {"csv", "parquet"},
    "truncated_file": {"csv", "jsonl", "parquet"},
}
# Whole-file defects that must fail the batch, and what the message must say.
FAILING = {"missing_column": "missing", "empty_file": "empty", "truncated_file": "truncated"}
# Rejections whose raw_content is the delivered line itself (orphans keep the landed row).
LINE_RULES = {"malformed_line", "wrong_type", "duplicate_key", "future_date", "invalid_encoding"}
# Rules whose quarantine row names the offending column (the manifest names it too).
COLUMN_RULES = {"wrong_type", "future_date", "orphan_reference"}


@dataclass(frozen=True)
class Attempt:
    """One load_entity call: an entity and a day, its batch row, and the error if any."""

    entity: EntityContract
    day: date
    error: str | None
    batch: dict


@dataclass
class Run:
    layout: Layout
    core_url: str
    url: str
    manifest: list[dict]
    attempts: dict[tuple[str, date], Attempt]  # by (raw table, day)
    rejected: list[dict]

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    def attempt(self, entry: dict) -> Attempt:
        return self.attempts[f"{entry['system']}__{entry['entity']}", _day(entry)]


def _day(entry: dict) -> date:
    return date.fromisoformat(entry["day"])


def _interval(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _format(entry: dict) -> str:
    if entry["target"] == CORE_TARGET:
        return "sql"
    return entry["target"].rsplit(".", 1)[-1]


def _position(entry: dict) -> int | None:
    """row_number the quarantine row must carry: the line, or a Parquet row from detail."""
    if _format(entry) == "sql":
        return None
    if _format(entry) == "parquet":
        match = re.match(r"row (\d+)", entry["detail"])
        assert match, entry
        return int(match.group(1))
    return int(entry["line"])


def _rows(conn, query: str, params: tuple = ()) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def run(settings, scratch_warehouse, tmp_path_factory) -> Run:
    core_url = fresh_database(settings, "scratch_ingest_defects_core")
    layout = Layout(tmp_path_factory.mktemp("ingest-defects"))
    generate(CFG, layout, core_url, as_of=DAYS[-1])
    url = scratch_warehouse
    sources = Sources({"core_banking": core_url}, layout.data_dir)
    plan: list[tuple[EntityContract, date]] = [
        (load_system("core_banking").entity(name), day) for name in CORE_ENTITIES for day in DAYS
    ]
    for day in DAYS:
        for system in FILE_SYSTEMS:
            plan.extend((entity, day) for entity in load_system(system).entities.values())
    errors: dict[tuple[str, date], str | None] = {}
    for entity, day in plan:
        try:
            load_entity(entity, sources, url, *_interval(day))
            errors[entity.raw_table, day] = None
        except LoadError as exc:
            errors[entity.raw_table, day] = str(exc)
    with connect(url) as conn:
        batches = _rows(conn, "select * from ops.load_batches order by batch_id")
        rejected = _rows(conn, "select * from quarantine.rejected_rows order by rejected_id")
    by_interval: dict[tuple[str, date], list[dict]] = defaultdict(list)
    for batch in batches:
        day = batch["interval_start"].astimezone(UTC).date()
        by_interval[batch["target_table"].removeprefix("raw."), day].append(batch)
    attempts = {}
    for entity, day in plan:
        found = by_interval.pop((entity.raw_table, day), [])
        assert len(found) == 1, f"{entity.raw_table} {day}: {len(found)} batches, expected one"
        attempts[entity.raw_table, day] = Attempt(
            entity, day, errors[entity.raw_table, day], found[0]
        )
    assert not by_interval, f"batches nobody asked for: {sorted(by_interval)}"
    return Run(layout, core_url, url, read_manifest(layout), attempts, rejected)


# --- the defects are there -----------------------------------------------------------------


def test_every_kind_the_demo_bank_knows_is_covered_here() -> None:
    assert set(FORMATS) == set(KINDS)
    assert set(FAILING) | {"extra_column"} == set(FILE_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_injected_in_every_format_it_can_take(run: Run, kind: str) -> None:
    formats = {_format(e) for e in run.manifest if e["kind"] == kind}
    assert formats == FORMATS[kind], f"{kind}: injected into {sorted(formats)}"


# --- batches -------------------------------------------------------------------------------


def test_each_load_committed_or_failed_loudly(run: Run) -> None:
    """A batch fails exactly when a whole-file defect hit its file, with the LoadError's text."""
    failing = {
        (f"{e['system']}__{e['entity']}", _day(e)) for e in run.manifest if e["kind"] in FAILING
    }
    problems = []
    for key, attempt in run.attempts.items():
        status, message = attempt.batch["status"], attempt.batch["message"]
        if key in failing:
            if status != "failed" or attempt.error is None:
                problems.append(f"{key}: should have failed, is {status}")
            elif message != attempt.error:
                problems.append(f"{key}: recorded {message!r}, raised {attempt.error!r}")
        elif status != "committed" or attempt.error is not None:
            problems.append(f"{key}: {status}: {attempt.error}")
    assert not problems, "\n".join(problems)


def test_every_committed_batch_balances(run: Run) -> None:
    """received = loaded + quarantined, each counted from what really landed; failed: nothing."""
    landed: Counter[int] = Counter()
    with connect(run.url) as conn:
        for table in {a.entity.raw_table for a in run.attempts.values()}:
            rows = conn.execute(f"select _batch_id, count(*) from raw.{table} group by 1")
            landed.update(dict(rows.fetchall()))
    quarantined = Counter(r["batch_id"] for r in run.rejected)
    problems = []
    for key, attempt in run.attempts.items():
        batch = attempt.batch
        loaded, refused = landed[batch["batch_id"]], quarantined[batch["batch_id"]]
        if batch["status"] == "failed":
            if loaded or refused:
                problems.append(f"{key}: failed batch left {loaded} raw, {refused} quarantined")
            continue
        counts = (batch["rows_received"], batch["rows_loaded"], batch["rows_quarantined"])
        if counts != (loaded + refused, loaded, refused):
            problems.append(f"{key}: recorded {counts}, landed {loaded} + quarantined {refused}")
    assert not problems, "\n".join(problems)


def test_a_failed_day_does_not_stop_the_next(run: Run) -> None:
    failed = [key for key, a in run.attempts.items() if a.batch["status"] == "failed"]
    assert failed
    for table, day in failed:
        later = [a.batch["status"] for (t, d), a in run.attempts.items() if t == table and d > day]
        assert "committed" in later or day == DAYS[-1], (table, day, later)


# --- row-level defects ---------------------------------------------------------------------


def _matches(run: Run, entry: dict) -> list[dict]:
    attempt = run.attempt(entry)
    if _format(entry) == "sql":
        key = str(entry["key"]["txn_id"])
        return [
            r
            for r in run.rejected
            if r["source_object"] == CORE_TARGET
            and r["record_key"] == key
            and r["batch_id"] == attempt.batch["batch_id"]
        ]
    position = _position(entry)
    return [
        r
        for r in run.rejected
        if r["source_object"] == entry["target"] and r["row_number"] == position
    ]


@pytest.mark.parametrize("kind", ROW_KINDS)
def test_row_defect_is_quarantined_with_its_rule(run: Run, kind: str) -> None:
    entries = [e for e in run.manifest if e["kind"] == kind]
    assert entries
    problems = []
    for entry in entries:
        where = f"{entry['target']} line {entry['line']} ({entry['detail']})"
        attempt = run.attempt(entry)
        if attempt.batch["status"] != "committed":
            problems.append(f"{where}: batch {attempt.batch['status']}: {attempt.error}")
            continue
        found = _matches(run, entry)
        if len(found) != 1:
            problems.append(f"{where}: {len(found)} quarantine rows")
            continue
        row = found[0]
        if row["rule"] != kind:
            problems.append(f"{where}: rule {row['rule']} ({row['message']})")
        if row["batch_id"] != attempt.batch["batch_id"]:
            problems.append(f"{where}: in batch {row['batch_id']}, not the day's")
        if row["target_table"] != f"raw.{entry['system']}__{entry['entity']}":
            problems.append(f"{where}: target {row['target_table']}")
        if kind in COLUMN_RULES and row["column_name"] != entry["column"]:
            problems.append(f"{where}: column {row['column_name']}, not {entry['column']}")
        if kind == "duplicate_key" and f"row {_position(entry) - 1} " not in row["message"]:
            problems.append(f"{where}: message does not name the first copy: {row['message']}")
        if kind == "orphan_reference" and str(entry["value"]) not in row["message"]:
            problems.append(f"{where}: message does not name {entry['value']}: {row['message']}")
        if not row["raw_content"]:
            problems.append(f"{where}: no raw content kept")
    assert not problems, "\n".join(problems)


def _file_lines(run: Run, rel: str) -> list[str]:
    """The delivered lines of a text file, decoded the way quarantine shows them."""
    system, entity = _owner(rel)
    encoding = str(load_system(system).entity(entity).options.get("encoding", "utf-8"))
    data = (run.data_dir / rel).read_bytes()
    return [line.decode(encoding, errors="backslashreplace") for line in data.split(b"\n")]


def _owner(rel: str) -> tuple[str, str]:
    system, day, name = rel.split("/")
    stamp = f"{date.fromisoformat(day):%Y%m%d}"
    for entity in load_system(system).entities.values():
        if str(entity.options["file"]).format(yyyymmdd=stamp) == name:
            return system, entity.name
    raise AssertionError(f"no entity delivers {rel}")


def test_rejected_lines_are_kept_as_delivered(run: Run) -> None:
    """Nothing is lost in quarantine: a refused text line is stored as it was delivered."""
    problems = []
    lines: dict[str, list[str]] = {}
    checked = 0
    for row in run.rejected:
        rel = row["source_object"]
        if row["rule"] not in LINE_RULES or not rel.endswith((".csv", ".jsonl")):
            continue
        if rel not in lines:
            lines[rel] = _file_lines(run, rel)
        expected = lines[rel][row["row_number"] - 1]
        checked += 1
        if row["raw_content"] != expected:
            problems.append(f"{rel}:{row['row_number']}: kept {row['raw_content']!r}")
    assert checked and not problems, "\n".join(problems)


# --- whole-file defects --------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FAILING))
def test_whole_file_defect_fails_its_batch_with_a_clear_message(run: Run, kind: str) -> None:
    entries = [e for e in run.manifest if e["kind"] == kind]
    assert entries
    for entry in entries:
        attempt = run.attempt(entry)
        assert attempt.batch["status"] == "failed", entry
        message = attempt.error or ""
        assert entry["target"] in message, message
        assert FAILING[kind] in message, message
        if kind == "missing_column":
            assert repr(entry["column"]) in message, message


def test_extra_column_is_kept_and_reported(run: Run) -> None:
    entries = [e for e in run.manifest if e["kind"] == "extra_column"]
    assert entries
    values = dict(EXTRA_COLUMNS)
    with_rows = 0
    with connect(run.url) as conn:
        for entry in entries:
            attempt = run.attempt(entry)
            batch = attempt.batch
            assert batch["status"] == "committed", attempt.error
            column = entry["column"]
            assert batch["schema_drift"] == {"extra_columns": [column]}, entry
            assert column in (batch["message"] or ""), batch["message"]
            expected = {column: values[column].format(yyyymmdd=f"{_day(entry):%Y%m%d}")}
            extras = Counter(
                json.dumps(r[0], sort_keys=True)
                for r in conn.execute(
                    f"select _extra from raw.{attempt.entity.raw_table}"
                    " where _batch_id = %s and _source = %s",
                    (batch["batch_id"], f"{entry['system']}:{entry['target']}"),
                )
            )
            assert set(extras) <= {json.dumps(expected)}, (entry, extras)
            assert sum(extras.values()) == batch["rows_loaded"], entry
            with_rows += bool(extras)
    assert with_rows, "no extra column landed on a file with rows"


# --- nothing else is quarantined, nothing clean is lost --------------------------------------


def _lost_cards(run: Run) -> set[int]:
    """Cards the warehouse cannot know: their own row was refused or their file failed."""
    lost = {
        int(e["key"]["card_id"])
        for e in run.manifest
        if e["entity"] == "cards" and e["kind"] in ROW_KINDS and e["kind"] != "duplicate_key"
    }
    failed = {
        day
        for (table, day), attempt in run.attempts.items()
        if table == "cards__cards" and attempt.batch["status"] == "failed"
    }
    for path in sorted((run.layout.world / "cards" / "cards").glob("*.parquet")):
        table = pq.read_table(path, columns=["card_id", "updated_at"]).to_pylist()
        for row in table:
            published = max(row["updated_at"].astimezone(UTC).date(), CFG.start)
            if published in failed:
                lost.add(int(row["card_id"]))
    return lost


def _cascades(run: Run, unmatched: list[dict]) -> tuple[list[dict], list[dict]]:
    """(explained, unexplained): orphans on a lost card, still unknown in raw at the time."""
    lost = _lost_cards(run)
    explained, unexplained = [], []
    with connect(run.url) as conn:
        for row in unmatched:
            if row["rule"] != "orphan_reference" or row["column_name"] != "card_id":
                unexplained.append(row)
                continue
            card = int(json.loads(row["raw_content"])["card_id"])
            known_before = conn.execute(
                "select exists (select 1 from raw.cards__cards where card_id = %s"
                " and _batch_id < %s)",
                (card, row["batch_id"]),
            ).fetchone()[0]
            (explained if card in lost and not known_before else unexplained).append(row)
    return explained, unexplained


def test_only_defective_rows_are_quarantined(run: Run) -> None:
    """Every quarantine row is a manifest entry or a cascade of one (no false positives)."""
    matched: set[int] = set()
    for entry in run.manifest:
        if entry["kind"] in ROW_KINDS:
            matched.update(r["rejected_id"] for r in _matches(run, entry))
    unmatched = [r for r in run.rejected if r["rejected_id"] not in matched]
    explained, unexplained = _cascades(run, unmatched)
    shown = [
        f"{r['source_object']}:{r['row_number']} {r['rule']} {r['column_name']}: {r['message']}"
        for r in unexplained
    ]
    assert not unexplained, f"{len(unexplained)} clean rows quarantined:\n" + "\n".join(shown)
    targets = {r["source_object"] for r in explained}
    assert all(t.split("/")[-1].startswith(("card_transactions", "annual_fees")) for t in targets)


def _data_rows(path: Path) -> int:
    """Rows a file delivers: Parquet rows, or physical lines after a CSV header."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return len(lines) - (1 if path.suffix == ".csv" else 0)


def test_every_clean_line_of_a_loaded_file_lands(run: Run) -> None:
    """Per file: its data rows = rows landed from it + rows quarantined from it."""
    refused = Counter(r["source_object"] for r in run.rejected)
    entries = Counter(e["target"] for e in run.manifest if e["kind"] in ROW_KINDS)
    problems = []
    checked = 0
    with connect(run.url) as conn:
        for (table, day), attempt in run.attempts.items():
            entity = attempt.entity
            if entity.kind != "files" or attempt.batch["status"] != "committed":
                continue
            rel = f"{entity.system}/{day}/" + str(entity.options["file"]).format(
                yyyymmdd=f"{day:%Y%m%d}"
            )
            path = run.data_dir / rel
            if not path.exists():
                assert entity.options.get("optional"), rel
                continue
            landed = conn.execute(
                f"select count(*) from raw.{table} where _batch_id = %s and _source = %s",
                (attempt.batch["batch_id"], f"{entity.system}:{rel}"),
            ).fetchone()[0]
            rows = _data_rows(path)
            checked += 1
            if landed + refused[rel] != rows:
                problems.append(f"{rel}: {rows} rows, {landed} landed, {refused[rel]} quarantined")
            if refused[rel] < entries[rel]:
                problems.append(f"{rel}: {entries[rel]} defects, {refused[rel]} quarantined")
    assert checked and not problems, "\n".join(problems)


def test_every_core_transaction_is_loaded_or_quarantined(run: Run) -> None:
    """Per day: transactions in the source = landed + quarantined, quarantined = defects."""
    defects = Counter(_day(e) for e in run.manifest if e["target"] == CORE_TARGET)
    problems = []
    with connect(run.core_url) as conn:
        for day in DAYS:
            start, end = _interval(day)
            lower = start if day != DAYS[0] else datetime(1900, 1, 1, tzinfo=UTC)
            source = conn.execute(
                "select count(*) from core.transactions where txn_ts >= %s and txn_ts < %s",
                (lower, end),
            ).fetchone()[0]
            batch = run.attempts["core_banking__transactions", day].batch
            got = (batch["rows_received"], batch["rows_quarantined"])
            if got != (source, defects[day]):
                problems.append(f"{day}: (received, quarantined) {got}, not {source, defects[day]}")
    assert not problems, "\n".join(problems)
