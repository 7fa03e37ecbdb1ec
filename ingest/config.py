"""Declarative source definitions (YAML under ``ingest/config``) turned into entities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ingest.loader import Column, ConfigError, SqlEntity

CONFIG_DIR = Path(__file__).with_name("config")


@dataclass(frozen=True)
class SourceSystem:
    name: str
    connection_id: str
    entities: tuple[SqlEntity, ...]
    pii_columns: dict[str, tuple[str, ...]]

    def entity(self, table: str) -> SqlEntity:
        for entity in self.entities:
            if entity.table == table:
                return entity
        raise KeyError(f"{self.name} has no entity {table!r}")


def load_source(name: str, config_dir: Path = CONFIG_DIR) -> SourceSystem:
    path = config_dir / f"{name}.yml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no source configuration {path}") from None
    system = doc.get("source_system")
    if system != name:
        raise ConfigError(f"{path}: source_system is {system!r}, expected {name!r}")
    entities = []
    pii: dict[str, tuple[str, ...]] = {}
    for index, item in enumerate(doc.get("entities") or []):
        where = f"{path}: entities[{index}]"
        try:
            columns = tuple(
                Column(c["name"], c["type"], bool(c.get("nullable", True))) for c in item["columns"]
            )
            entity = SqlEntity(
                system, item["schema"], item["table"], columns, tuple(item["primary_key"])
            )
        except KeyError as exc:
            raise ConfigError(f"{where}: missing key {exc.args[0]!r}") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        entities.append(entity)
        pii[entity.table] = tuple(c["name"] for c in item["columns"] if c.get("pii"))
    if not entities:
        raise ConfigError(f"{path}: no entities")
    return SourceSystem(system, doc.get("connection_id", system), tuple(entities), pii)


@dataclass(frozen=True)
class EntityContract:
    """What a source delivers for one entity, whatever the transport."""

    system: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    pii: tuple[str, ...]
    options: dict[str, object]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


SYSTEMS = ("core_banking", "cards", "crm", "service", "wealth", "reference")


def load_contract(name: str, config_dir: Path = CONFIG_DIR) -> dict[str, EntityContract]:
    """Entities of one source system (any kind), keyed by entity name."""
    path = config_dir / f"{name}.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    contracts = {}
    for index, item in enumerate(doc["entities"]):
        try:
            columns = tuple(
                Column(c["name"], c["type"], bool(c.get("nullable", True))) for c in item["columns"]
            )
        except (KeyError, ConfigError) as exc:
            raise ConfigError(f"{path}: entities[{index}]: {exc}") from None
        options = {k: v for k, v in item.items() if k not in ("columns", "primary_key", "table")}
        contracts[item["table"]] = EntityContract(
            name,
            item["table"],
            columns,
            tuple(item["primary_key"]),
            tuple(c["name"] for c in item["columns"] if c.get("pii")),
            options,
        )
    return contracts
