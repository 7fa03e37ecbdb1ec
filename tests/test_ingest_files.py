"""File drops (GBK/UTF-8 CSV, Parquet, JSON lines) from the demo bank, day by day, exact.

Expected figures are read from the delivered files with the standard library and pyarrow,
independently of the loader's readers.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import fresh_database

from ingest.config import load_system
from ingest.intervals import business_day
from ingest.load import Sources, load_entity
from sources.demo_bank.bank import advance, generate
from sources.demo_bank.config import DemoBankConfig, Layout
from warehouse.db import connect
from warehouse.settings import Settings

FIRST_DAY = date(2024, 1, 29)
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(4)]  # crosses a month end
FILE_SYSTEMS = ("cards", "service", "wealth")
# A money column per entity whose sum is reconciled (the key column when there is none).
SUMMED = {
    "cards": "card_id",
    "card_transactions": "amount",
    "annual_fees": "amount",
    "complaints": "complaint_id",
    "surveys": "nps",
    "wealth_holdings": "market_value",
    "wealth_subscriptions": "amount",
    "insurance_policies": "annual_premium",
}


@pytest.fixture(scope="module")
def loaded(settings: Settings, tmp_path_factory: pytest.TempPathFactory, scratch_warehouse):
    core = fresh_database(settings, "scratch_ingest_files_core")
    layout = Layout(tmp_path_factory.mktemp("demo-bank"))
    generate(DemoBankConfig(customers=250, months=3, seed=17), layout, core, as_of=FIRST_DAY)
    sources = Sources({"core_banking": core}, layout.data_dir)
    results = {}
    for day in DAYS:
        if day != FIRST_DAY:
            advance(layout, core, day)
        for system in ("core_banking", *FILE_SYSTEMS):
            for name, entity in load_system(system).entities.items():
                results[system, name, day] = load_entity(
                    entity, sources, scratch_warehouse, *business_day(day)
                )
    return layout, sources, results


def _file_rows(path: Path, fmt: str, encoding: str) -> list[dict]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    text = path.read_bytes().decode(encoding)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines() if line]


def _delivered(layout: Layout, system: str, entity: str, until: date) -> tuple[int, Decimal]:
    """Rows and the summed column over every delivered file up to ``until``."""
    contract = load_system(system).entity(entity)
    fmt, encoding = contract.options["format"], contract.options.get("encoding", "utf-8")
    count, total = 0, Decimal(0)
    for folder in sorted((layout.data_dir / system).iterdir()):
        if folder.name > until.isoformat():
            continue
        name = contract.options["file"].format(yyyymmdd=folder.name.replace("-", ""))
        if not (folder / name).is_file():
            continue
        for row in _file_rows(folder / name, fmt, encoding):
            count += 1
            total += Decimal(str(row[SUMMED[entity]]))
    return count, total


def _landed(url: str, system: str, entity: str) -> tuple[int, Decimal, int]:
    contract = load_system(system).entity(entity)
    with connect(url) as conn:
        return conn.execute(
            f"select count(*), coalesce(sum({SUMMED[entity]}), 0),"
            f" count(distinct ({', '.join(contract.primary_key)}))"
            f" from raw.{contract.raw_table}"
        ).fetchone()


def test_every_file_row_lands_once_and_sums_match(loaded, scratch_warehouse) -> None:
    layout, _, results = loaded
    for system in FILE_SYSTEMS:
        for entity in load_system(system).entities:
            rows, total = _delivered(layout, system, entity, DAYS[-1])
            landed, landed_total, keys = _landed(scratch_warehouse, system, entity)
            assert (landed, Decimal(landed_total)) == (rows, total), (system, entity)
            for day in DAYS:
                result = results[system, entity, day]
                assert result.rows_quarantined == 0, (system, entity, day)
            if entity not in ("cards", "complaints", "insurance_policies", "wealth_holdings"):
                assert keys == landed, f"{entity}: a row delivered once lands once"
    first = results["cards", "card_transactions", FIRST_DAY].rows_loaded
    later = [results["cards", "card_transactions", d].rows_loaded for d in DAYS[1:]]
    assert first > 10 * max(later) > 0, "the first day takes every earlier delivery"
    month_end = results["wealth", "wealth_holdings", date(2024, 1, 31)]
    assert month_end.rows_loaded > 0, "holdings come with the month-end delivery"
    assert results["wealth", "wealth_holdings", DAYS[-1]].rows_loaded == 0


def test_rerunning_a_past_day_replaces_it_exactly(loaded, scratch_warehouse) -> None:
    _, sources, results = loaded
    before = {
        (s, e): _landed(scratch_warehouse, s, e)
        for s in FILE_SYSTEMS
        for e in load_system(s).entities
    }
    for system in FILE_SYSTEMS:
        for name, entity in load_system(system).entities.items():
            again = load_entity(entity, sources, scratch_warehouse, *business_day(DAYS[1]))
            assert again.replaced_batches == 1
            assert again.checksum == results[system, name, DAYS[1]].checksum
    after = {
        (s, e): _landed(scratch_warehouse, s, e)
        for s in FILE_SYSTEMS
        for e in load_system(s).entities
    }
    assert after == before


def test_rows_carry_their_file_and_line(loaded, scratch_warehouse) -> None:
    layout, _, _ = loaded
    with connect(scratch_warehouse) as conn:
        source, line, card_id = conn.execute(
            "select _source, _source_row, card_id from raw.cards__cards"
            " order by _batch_id desc, _source_row limit 1"
        ).fetchone()
    system, _, rel = source.partition(":")
    assert system == "cards"
    text = (layout.data_dir / rel).read_bytes().decode("gbk").splitlines()
    assert text[line - 1].split(",")[0] == str(card_id), "line numbers count the header"
