"""Defects on demand: every manifest entry is really in the data, exactly as described.

The demo bank is generated for real (embedded Postgres), defects are injected over a span
of days at a high rate, and each entry is checked against the files and the core database;
everything the manifest does not name must be byte-for-byte (or row-for-row) unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import fresh_database

from ingest.config import load_contract
from sources.demo_bank.bank import generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.defects import (
    KINDS,
    ROW_KINDS,
    inject_defects,
    manifest_path,
    read_manifest,
)
from warehouse.db import connect

CFG = DemoBankConfig(customers=300, months=2, seed=3)
DAYS = [CFG.start + timedelta(days=i) for i in range(45)]  # 2024-01-01 .. 2024-02-14
EXTRA_DAY = date(2024, 2, 20)
RATE = 0.4
SEED = 5
SYSTEMS = ("cards", "service", "wealth")
BAD_BYTES = {"gbk": b"\xff\xfe", "utf-8": b"\xc3\x28"}
CONTRACTS = {s: load_contract(s) for s in (*SYSTEMS, "core_banking")}


@dataclass
class Bank:
    layout: Layout
    url: str
    before: dict[str, bytes]  # data files before any injection, by path under data_dir
    txns_before: dict[int, tuple]
    first: list[dict]
    second: list[dict]
    third: list[dict]
    tree_after_first: dict[str, str]
    tree_after_second: dict[str, str]


def _files(layout: Layout) -> dict[str, bytes]:
    return {
        path.relative_to(layout.data_dir).as_posix(): path.read_bytes()
        for system in SYSTEMS
        for path in sorted(layout.drop(system).rglob("*"))
        if path.is_file()
    }


def _tree(layout: Layout) -> dict[str, str]:
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in _files(layout).items()}
    defects = layout.root / "defects"
    if defects.exists():
        for path in sorted(defects.iterdir()):
            digest[f"defects/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def _txns(url: str) -> dict[int, tuple]:
    with connect(url) as conn:
        rows = conn.execute(
            "select txn_id, account_id, txn_ts, updated_at from core.transactions"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _build(settings, path: Path, name: str, *, zero_first: bool = False) -> Bank:
    url = fresh_database(settings, name)
    layout = Layout(path)
    generate(CFG, layout, url)
    before, txns_before = _files(layout), _txns(url)
    if zero_first:
        tree = _tree(layout)
        assert inject_defects(layout, url, DAYS, 0.0, SEED) == []
        assert _tree(layout) == tree
        assert _txns(url) == txns_before
        assert not (layout.root / "defects").exists()
    first = inject_defects(layout, url, DAYS, RATE, SEED)
    tree_after_first = _tree(layout)
    second = inject_defects(layout, url, DAYS, RATE, SEED)
    tree_after_second = _tree(layout)
    third = inject_defects(layout, url, [*DAYS[-3:], EXTRA_DAY], RATE, SEED)
    return Bank(
        layout,
        url,
        before,
        txns_before,
        first,
        second,
        third,
        tree_after_first,
        tree_after_second,
    )


@pytest.fixture(scope="module")
def bank(settings, tmp_path_factory) -> Bank:
    return _build(settings, tmp_path_factory.mktemp("defects-a"), "scratch_defects_a")


def _issued(layout: Layout, url: str) -> dict[str, set[int]]:
    """Every id the demo bank ever issued, from the core database and the world store."""
    with connect(url) as conn:
        customers = {r[0] for r in conn.execute("select customer_id from core.customers")}
        accounts = {r[0] for r in conn.execute("select account_id from core.accounts")}
    cards: set[int] = set()
    for path in sorted((layout.world / "cards" / "cards").glob("*.parquet")):
        cards |= set(pq.read_table(path, columns=["card_id"]).column(0).to_pylist())
    return {"customer_id": customers, "account_id": accounts, "card_id": cards}


@pytest.fixture(scope="module")
def issued(bank: Bank) -> dict[str, set[int]]:
    return _issued(bank.layout, bank.url)


# --- parsing as the contract says ----------------------------------------------------------


def _parses(value: object, sql_type: str) -> bool:
    """Whether a file value is a valid ``sql_type`` (JSON values may already be typed)."""
    if sql_type in ("bigint", "integer"):
        return (isinstance(value, int) and not isinstance(value, bool)) or bool(
            isinstance(value, str) and re.fullmatch(r"-?\d+", value)
        )
    if sql_type.startswith("numeric"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True
        try:
            Decimal(str(value))
        except InvalidOperation:
            return False
        return bool(re.fullmatch(r"-?\d+(\.\d+)?", str(value)))
    try:
        if sql_type == "date":
            date.fromisoformat(str(value))
        elif sql_type == "timestamptz":
            datetime.fromisoformat(str(value))
        elif sql_type == "boolean":
            return isinstance(value, bool) or value in ("True", "False", "true", "false")
    except ValueError:
        return False
    return True


def _year(value: object) -> int:
    text = str(value)
    return (datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)).year


def _types(entry: dict) -> dict[str, str]:
    return {c.name: c.type for c in CONTRACTS[entry["system"]][entry["entity"]].columns}


def _encoding(entry: dict) -> str:
    return str(CONTRACTS[entry["system"]][entry["entity"]].options.get("encoding", "utf-8"))


def _csv_fields(line: bytes, encoding: str) -> list[str]:
    return next(csv.reader([line.decode(encoding)]))


def _csv_key(entry: dict, header: list[str], fields: list[str]) -> dict:
    types = _types(entry)
    key = {}
    for name in CONTRACTS[entry["system"]][entry["entity"]].primary_key:
        value = fields[header.index(name)]
        key[name] = int(value) if types[name] in ("bigint", "integer") else value
    return key


# --- checks per format ---------------------------------------------------------------------


def _check_csv_row(entry: dict, data: bytes, issued: dict[str, set[int]]) -> None:
    encoding = _encoding(entry)
    lines = data.split(b"\n")
    header = _csv_fields(lines[0], encoding)
    raw = lines[entry["line"] - 1]
    kind, column = entry["kind"], entry["column"]
    if kind == "invalid_encoding":
        with pytest.raises(UnicodeDecodeError):
            raw.decode(encoding)
        assert BAD_BYTES[encoding] in raw
        fields = _csv_fields(raw.replace(BAD_BYTES[encoding], b""), encoding)
        assert len(fields) == len(header)
        assert _csv_key(entry, header, fields) == entry["key"]
        return
    fields = _csv_fields(raw, encoding)
    if kind == "malformed_line":
        assert len(fields) != len(header), entry
        return
    assert len(fields) == len(header), entry
    assert _csv_key(entry, header, fields) == entry["key"]
    if kind == "duplicate_key":
        assert lines[entry["line"] - 2] == raw
        keys = [
            _csv_key(entry, header, f)
            for f in list(csv.reader(io.StringIO(data.decode(encoding, errors="replace"))))[1:]
            if len(f) == len(header)
        ]
        assert keys.count(entry["key"]) == 2
        return
    value = fields[header.index(column)]
    assert value == str(entry["value"])
    if kind == "wrong_type":
        assert not _parses(value, _types(entry)[column]), entry
    elif kind == "orphan_reference":
        assert int(value) not in issued[column]
    elif kind == "future_date":
        assert _year(value) >= 2090
    else:
        raise AssertionError(f"unexpected kind {kind}")


def _check_jsonl_row(entry: dict, data: bytes, issued: dict[str, set[int]]) -> None:
    lines = data.split(b"\n")
    raw = lines[entry["line"] - 1]
    kind, column = entry["kind"], entry["column"]
    if kind == "invalid_encoding":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert BAD_BYTES["utf-8"] in raw
        record = json.loads(raw.replace(BAD_BYTES["utf-8"], b"").decode("utf-8"))
    elif kind == "malformed_line":
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw.decode("utf-8"))
        return
    else:
        record = json.loads(raw.decode("utf-8"))
    pk = CONTRACTS[entry["system"]][entry["entity"]].primary_key
    assert {k: record[k] for k in pk} == entry["key"]
    if kind == "duplicate_key":
        assert lines[entry["line"] - 2] == raw
        assert [line for line in lines if line].count(raw) == 2
    elif kind == "wrong_type":
        assert record[column] == entry["value"]
        assert not _parses(record[column], _types(entry)[column]), entry
    elif kind == "orphan_reference":
        assert record[column] == entry["value"]
        assert record[column] not in issued[column]
    elif kind == "future_date":
        assert record[column] == entry["value"]
        assert _year(record[column]) >= 2090


def _check_parquet_row(entry: dict, data: bytes, issued: dict[str, set[int]]) -> None:
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    pk = CONTRACTS[entry["system"]][entry["entity"]].primary_key
    matching = [r for r in rows if {k: r[k] for k in pk} == entry["key"]]
    if entry["kind"] == "duplicate_key":
        assert len(matching) == 2 and matching[0] == matching[1]
        return
    assert len(matching) == 1, entry
    value = matching[0][entry["column"]]
    if entry["kind"] == "orphan_reference":
        assert value == entry["value"]
        assert value not in issued[entry["column"]]
    else:
        assert entry["kind"] == "future_date"
        assert value.year >= 2090 and value.isoformat() == entry["value"]


def _check_file_level(entry: dict, data: bytes, original: bytes) -> None:
    kind, column = entry["kind"], entry["column"]
    fmt = str(CONTRACTS[entry["system"]][entry["entity"]].options["format"])
    names = CONTRACTS[entry["system"]][entry["entity"]].column_names
    encoding = _encoding(entry)
    assert entry["line"] is None
    if kind == "empty_file":
        assert data == b"" and original != b""
        assert fmt != "jsonl"
    elif kind == "truncated_file":
        assert original.startswith(data) and len(data) < len(original)
        if fmt == "parquet":
            with pytest.raises(Exception):  # noqa: B017 - any read error will do
                pq.read_table(io.BytesIO(data))
            return
        assert not data.endswith(b"\n")
        last = data.split(b"\n")[-1]
        if fmt == "csv":
            header = _csv_fields(data.split(b"\n")[0], encoding)
            assert len(_csv_fields(last, encoding)) < len(header)
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(last.decode("utf-8"))
    elif fmt == "parquet":
        got = pq.read_table(io.BytesIO(data)).column_names
        assert got == (
            [n for n in names if n != column] if kind == "missing_column" else [*names, column]
        )
        assert (
            pq.read_table(io.BytesIO(data)).num_rows
            == pq.read_metadata(io.BytesIO(original)).num_rows
        )
    elif fmt == "csv":
        header = _csv_fields(data.split(b"\n")[0], encoding)
        rows = list(csv.reader(io.StringIO(data.decode(encoding))))
        assert len(rows) == len(original.decode(encoding).splitlines())
        if kind == "missing_column":
            assert header == [n for n in names if n != column]
        else:
            assert column not in names and [n for n in header if n != column] == names
        assert all(len(r) == len(header) for r in rows)
    else:
        records = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert len(records) == len(original.decode("utf-8").splitlines())
        if kind == "missing_column":
            assert all(column not in r and set(r) == set(names) - {column} for r in records)
        else:
            assert column not in names and all(set(r) == {*names, column} for r in records)


def _is_subsequence(small: list[bytes], big: list[bytes]) -> bool:
    it = iter(big)
    return all(item in it for item in small)


# --- tests ---------------------------------------------------------------------------------


def test_every_kind_is_injected(bank: Bank) -> None:
    kinds = Counter(e["kind"] for e in bank.first)
    assert set(kinds) == set(KINDS), kinds
    assert {e["system"] for e in bank.first} == {*SYSTEMS, "core_banking"}
    assert {e["day"] for e in bank.first} <= {d.isoformat() for d in DAYS}
    for entry in bank.first:
        if entry["system"] != "core_banking":
            assert entry["target"].split("/")[1] == entry["day"]


def test_manifest_is_what_was_returned(bank: Bank) -> None:
    assert read_manifest(bank.layout) == bank.first + bank.third
    assert manifest_path(bank.layout) == bank.layout.root / "defects" / "manifest.jsonl"
    for entry in bank.first:
        assert set(entry) == {
            "day",
            "system",
            "entity",
            "target",
            "kind",
            "line",
            "key",
            "column",
            "value",
            "detail",
        }
        assert entry["detail"]
        if entry["kind"] in ROW_KINDS:
            assert entry["key"]
        is_text_row = entry["kind"] in ROW_KINDS and entry["target"].endswith((".csv", ".jsonl"))
        assert (entry["line"] is not None) == is_text_row


def _verify_files(layout: Layout, before: dict[str, bytes], issued: dict[str, set[int]]) -> None:
    """Each file entry of the manifest is in its file; all else is as published."""
    by_target: dict[str, list[dict]] = {}
    for entry in read_manifest(layout):
        by_target.setdefault(entry["target"], []).append(entry)
    now = _files(layout)
    assert set(now) == set(before)  # nothing added or removed; _DONE markers stay
    for target, entries in by_target.items():
        if target == "core.transactions":
            continue
        data, original = now[target], before[target]
        file_level = [e for e in entries if e["kind"] not in ROW_KINDS]
        if file_level:
            assert len(entries) == 1, entries  # one file-level defect and nothing else
            _check_file_level(entries[0], data, original)
            continue
        check = {"csv": _check_csv_row, "jsonl": _check_jsonl_row}.get(
            target.rsplit(".", 1)[-1], _check_parquet_row
        )
        for entry in entries:
            check(entry, data, issued)
        copies = sum(e["kind"] == "duplicate_key" for e in entries)
        if target.endswith(".parquet"):
            assert pq.read_metadata(io.BytesIO(data)).num_rows == (
                pq.read_metadata(io.BytesIO(original)).num_rows + copies
            )
            continue
        # Outside the named lines, the file is the original, line for line.
        lines = data.split(b"\n")
        named = {e["line"] for e in entries}
        assert len(named) == len(entries)
        kept = [line for i, line in enumerate(lines, start=1) if i not in named]
        old = original.split(b"\n")
        assert len(lines) == len(old) + copies
        assert _is_subsequence(kept, old)
    for target in set(now) - set(by_target):
        assert now[target] == before[target], target


def _verify_core(
    layout: Layout, url: str, txns_before: dict[int, tuple], issued: dict[str, set[int]]
) -> None:
    """Exactly the transactions the manifest names changed, in the named column."""
    entries = [e for e in read_manifest(layout) if e["target"] == "core.transactions"]
    assert {e["kind"] for e in entries} == {"orphan_reference", "future_date"}
    after = _txns(url)
    changed = {t for t in after if after[t] != txns_before[t]}
    assert changed == {e["key"]["txn_id"] for e in entries}
    assert len(entries) == len(changed)
    for entry in entries:
        txn_id = entry["key"]["txn_id"]
        account_id, txn_ts, updated_at = after[txn_id]
        old_account, old_ts, old_updated = txns_before[txn_id]
        assert txn_ts == old_ts and txn_ts.astimezone(UTC).date().isoformat() == entry["day"]
        if entry["kind"] == "orphan_reference":
            assert entry["column"] == "account_id"
            assert account_id == entry["value"] and account_id not in issued["account_id"]
            assert updated_at == old_updated
        else:
            assert entry["column"] == "updated_at"
            assert updated_at.year >= 2090 and account_id == old_account


def test_every_file_defect_is_there_as_described(bank: Bank, issued) -> None:
    _verify_files(bank.layout, bank.before, issued)


def test_core_defects_are_in_the_database(bank: Bank, issued) -> None:
    _verify_core(bank.layout, bank.url, bank.txns_before, issued)


def test_share_of_defects_follows_the_rate(bank: Bank) -> None:
    core = [e for e in bank.first if e["target"] == "core.transactions"]
    eligible = [t for t in bank.txns_before.values() if t[1].astimezone(UTC).date() in set(DAYS)]
    assert 0.3 < len(core) / len(eligible) < 0.5


def test_running_again_for_the_same_days_adds_nothing(bank: Bank) -> None:
    assert bank.second == []
    assert bank.tree_after_second == bank.tree_after_first
    # Already-processed days are skipped; a new day among them is processed.
    assert bank.third
    assert {e["day"] for e in bank.third} == {EXTRA_DAY.isoformat()}


def test_same_seed_same_defects_and_rate_zero_changes_nothing(
    bank: Bank, settings, tmp_path
) -> None:
    twin = _build(settings, tmp_path / "twin", "scratch_defects_b", zero_first=True)
    assert twin.first == bank.first
    assert twin.third == bank.third
    assert _tree(twin.layout) == _tree(bank.layout)
    assert _txns(twin.url) == _txns(bank.url)
    shutil.rmtree(tmp_path / "twin")


def test_unpublished_day_is_refused(bank: Bank) -> None:
    with pytest.raises(ValueError, match="not published"):
        inject_defects(bank.layout, bank.url, [date(2030, 1, 1)], RATE, SEED)
    with pytest.raises(ValueError, match="rate"):
        inject_defects(bank.layout, bank.url, DAYS, 1.5, SEED)


def test_json_lines_get_every_kind_they_can_take(settings, tmp_path) -> None:
    """A bank with many complaints and surveys, so each kind lands in JSON lines too."""
    url = fresh_database(settings, "scratch_defects_busy")
    layout = Layout(tmp_path / "busy")
    cfg = DemoBankConfig(customers=300, months=1, seed=4, complaint_rate=0.1, survey_rate=0.5)
    generate(cfg, layout, url)
    before, txns_before = _files(layout), _txns(url)
    days = [cfg.start + timedelta(days=i) for i in range(31)]
    entries = inject_defects(layout, url, days, 0.5, SEED)
    jsonl = Counter(e["kind"] for e in entries if e["target"].endswith(".jsonl"))
    assert set(jsonl) == set(KINDS) - {"empty_file"}, jsonl
    issued = _issued(layout, url)
    _verify_files(layout, before, issued)
    _verify_core(layout, url, txns_before, issued)
