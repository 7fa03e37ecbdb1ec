"""The YAML source contracts: complete, validated before anything reaches SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ingest.config import (
    CONFIG_DIR,
    SYSTEMS,
    Column,
    ConfigError,
    delivered,
    load_system,
)
from ingest.values import NULL, BadValue, converter, future_check


def test_every_system_loads_with_keys_columns_and_pii() -> None:
    for name in SYSTEMS:
        system = load_system(name)
        assert system.entities, name
        for entity in system.entities.values():
            assert set(entity.primary_key) <= set(entity.column_names)
            assert all(c in entity.column_names for c in entity.pii)
            assert entity.raw_table == f"{name}__{entity.name}"
    customers = load_system("core_banking").entity("customers")
    assert {"national_id", "mobile", "full_name"} <= set(customers.pii)
    assert customers.watermark == "updated_at"
    assert load_system("crm").upstream_systems == ["core_banking"]


def _write(folder: Path, name: str, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


def _doc(**entity: object) -> dict:
    base = {
        "table": "things",
        "schema": "core",
        "primary_key": ["id"],
        "columns": [{"name": "id", "type": "bigint", "nullable": False}],
    }
    base.update(entity)
    return {"source_system": "bank", "kind": "sql", "entities": [base]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": "things; drop table x"}, "not a plain lower-case SQL identifier"),
        ({"schema": "Core"}, "not a plain lower-case SQL identifier"),
        ({"primary_key": ["nope"]}, "primary key columns"),
        ({"watermark": "nope"}, "watermark"),
        ({"columns": [{"name": "id", "type": "bigint; drop"}]}, "not a plain SQL type"),
        ({"columns": [{"name": "id", "type": "money"}]}, "not supported"),
        ({"columns": [{"name": "id", "type": "bigint", "pii": True, "secret": 1}]}, "unknown keys"),
        ({"columns": [{"name": "id", "type": "bigint", "not_future": True}]}, "not_future"),
        ({"references": {"id": "bank.missing"}}, "does not exist"),
        ({"references": {"id": "nodot"}}, "<system>.<entity>"),
    ],
)
def test_bad_definitions_are_refused_with_the_place(
    tmp_path: Path, change: dict, message: str
) -> None:
    folder = _write(tmp_path / "cfg", "bank", _doc(**change))
    with pytest.raises(ConfigError, match=message) as failure:
        load_system("bank", folder)
    assert "bank.yml" in str(failure.value) or "bank." in str(failure.value)


def test_a_file_entity_needs_a_plain_name_and_a_known_format(tmp_path: Path) -> None:
    doc = {
        "source_system": "drops",
        "kind": "files",
        "drop_folder": "drops",
        "entities": [
            {
                "table": "rows",
                "file": "../../etc/passwd",
                "format": "csv",
                "primary_key": ["id"],
                "columns": [{"name": "id", "type": "bigint"}],
            }
        ],
    }
    with pytest.raises(ConfigError, match="plain file name"):
        load_system("drops", _write(tmp_path / "a", "drops", doc))
    doc["entities"][0]["file"] = "rows.xlsx"
    doc["entities"][0]["format"] = "xlsx"
    with pytest.raises(ConfigError, match="format"):
        load_system("drops", _write(tmp_path / "b", "drops", doc))


def test_banks_list_known_entities_only() -> None:
    berka = delivered("berka")
    assert berka["cards"] == ("cards",) and "crm" not in berka
    assert set(delivered("demo")) == set(SYSTEMS)
    with pytest.raises(ConfigError, match="no bank"):
        delivered("nobank")


def test_adding_an_entity_is_configuration_only(tmp_path: Path) -> None:
    """A new entity in YAML is a new validated contract, with no code change."""
    doc = yaml.safe_load((CONFIG_DIR / "service.yml").read_text(encoding="utf-8"))
    doc["entities"].append(
        {
            "table": "chat_sessions",
            "file": "chat_sessions.jsonl",
            "format": "jsonl",
            "primary_key": ["session_id"],
            "references": {"customer_id": "core_banking.customers"},
            "columns": [
                {"name": "session_id", "type": "bigint", "nullable": False},
                {"name": "customer_id", "type": "bigint", "nullable": False},
                {"name": "started_at", "type": "timestamptz", "not_future": True},
            ],
        }
    )
    folder = _write(tmp_path / "cfg", "service", doc)
    for other in ("core_banking",):
        (folder / f"{other}.yml").write_text((CONFIG_DIR / f"{other}.yml").read_text())
    entity = load_system("service", folder).entity("chat_sessions")
    assert entity.raw_table == "service__chat_sessions"
    assert entity.source_object == "service/chat_sessions.jsonl"


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("bigint", "42", "42"),
        ("bigint", 42, "42"),
        ("integer", " -7", "-7"),
        ("numeric(18,2)", "1234.5", "1234.5"),
        ("numeric(18,2)", Decimal("0.10"), "0.10"),
        ("date", "2024-02-29", "2024-02-29"),
        ("date", date(2024, 3, 1), "2024-03-01"),
        ("timestamptz", "2024-01-05 10:00:00+0000", "2024-01-05T10:00:00+00:00"),
        ("timestamptz", "2024-01-05T10:00:00Z", "2024-01-05T10:00:00+00:00"),
        ("boolean", "True", "t"),
        ("boolean", False, "f"),
        ("text", "a\tb\\c\nd", "a\\tb\\\\c\\nd"),
        ("text", "", ""),
        ("bigint", "", NULL),
    ],
)
def test_values_become_copy_text(type_: str, value: object, expected: str) -> None:
    assert converter(Column("c", type_))(value) == expected


@pytest.mark.parametrize(
    ("type_", "value", "rule"),
    [
        ("bigint", "five", "wrong_type"),
        ("integer", "3000000000", "wrong_type"),
        ("numeric(18,2)", "12,5O", "wrong_type"),
        ("numeric(4,2)", "123.4", "wrong_type"),
        ("numeric(18,2)", "NaN", "wrong_type"),
        ("date", "2024-02-30", "wrong_type"),
        ("timestamptz", "not-a-time", "wrong_type"),
        ("boolean", "maybe", "wrong_type"),
        ("text", "nul\x00byte", "wrong_type"),
        ("bigint", None, "required_missing"),
    ],
)
def test_bad_values_name_their_rule_and_column(type_: str, value: object, rule: str) -> None:
    with pytest.raises(BadValue) as failure:
        converter(Column("amount", type_, nullable=False))(value)
    assert failure.value.rule == rule and failure.value.column == "amount"
    assert "amount" in str(failure.value)


def test_future_check_compares_dates_and_timestamps() -> None:
    limit = datetime(2024, 1, 6, tzinfo=UTC)
    day = future_check(Column("d", "date", not_future=True), limit)
    stamp = future_check(Column("t", "timestamptz", not_future=True), limit)
    assert not day("2024-01-06") and day("2024-01-07") and not day(NULL)
    assert not stamp("2024-01-05T23:00:00+00:00") and stamp("2099-01-01T00:00:00+00:00")
