"""Declarative source definitions (YAML under ``ingest/config``), validated before use.

One file per source system: how it is pulled (``kind``: sql, files or http), and for each
entity its extraction, key, columns with types and nullability, personal-data columns,
event columns that cannot lie in the future and references to other entities. Adding an
entity is an edit here, not new code. Every name that reaches SQL is checked against a
plain-identifier pattern when the file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).with_name("config")
SYSTEMS = ("core_banking", "cards", "crm", "service", "wealth", "reference")
KINDS = ("sql", "files", "http")
FORMATS = ("csv", "parquet", "jsonl")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TYPE = re.compile(r"^[a-z][a-z0-9 ]*(\(\d+(,\s*\d+)?\))?$")
_FILE_PATTERN = re.compile(r"^[A-Za-z0-9_.{}-]+$")


_SPELLED = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "bool": "boolean",
    "decimal": "numeric",
}


def _typmod(match: re.Match[str]) -> str:
    precision, scale = match.group(1), match.group(2) or "0"
    return f"({precision},{scale})"


class ConfigError(ValueError):
    """A source definition is incomplete or names something that cannot safely reach SQL."""


def identifier(value: object, what: str) -> str:
    """``value`` if it is a plain lower-case SQL identifier, else a ConfigError naming it."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ConfigError(f"{what} {value!r} is not a plain lower-case SQL identifier")
    return value


def type_family(sql_type: str) -> str:
    """int | numeric | date | timestamp | bool | text: how a value of the type is checked."""
    kind = sql_type.lower()
    if kind in ("bigint", "integer", "int", "smallint"):
        return "int"
    if kind.startswith(("numeric", "decimal")):
        return "numeric"
    if kind == "date":
        return "date"
    if kind.startswith("timestamp"):
        return "timestamp"
    if kind == "boolean":
        return "bool"
    if kind == "text":
        return "text"
    raise ConfigError(
        f"type {sql_type!r} is not supported (use integer, bigint, smallint, "
        "numeric(p,s), date, timestamptz, boolean or text)"
    )


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    pii: bool = False
    not_future: bool = False

    def __post_init__(self) -> None:
        identifier(self.name, "column")
        if not isinstance(self.type, str) or not _TYPE.match(self.type):
            raise ConfigError(f"column {self.name}: type {self.type!r} is not a plain SQL type")
        family = type_family(self.type)
        if self.not_future and family not in ("date", "timestamp"):
            raise ConfigError(f"column {self.name}: not_future needs a date or timestamp type")

    @property
    def family(self) -> str:
        return type_family(self.type)

    @property
    def canonical_type(self) -> str:
        """The type as Postgres spells it back (``format_type``), to compare with a table's."""
        kind = re.sub(r"\s+", " ", self.type.strip().lower())
        kind = re.sub(r"\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", _typmod, kind)
        return _SPELLED.get(kind, kind)

    @property
    def numeric_limits(self) -> tuple[int, int] | None:
        """(precision, scale) of a numeric(p,s) column."""
        match = re.search(r"\((\d+)(?:,\s*(\d+))?\)", self.type)
        if self.family != "numeric" or not match:
            return None
        return int(match.group(1)), int(match.group(2) or 0)


@dataclass(frozen=True)
class Reference:
    """``column`` must name an existing key of ``system.entity``."""

    column: str
    system: str
    entity: str

    @property
    def raw_table(self) -> str:
        return f"{self.system}__{self.entity}"


@dataclass(frozen=True)
class EntityContract:
    """What a source delivers for one entity, whatever the transport, and how to pull it."""

    system: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    pii: tuple[str, ...]
    options: dict[str, Any]
    kind: str = "sql"
    references: tuple[Reference, ...] = ()
    system_options: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if not c.nullable]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.system}.{self.name} has no column {name!r}")

    @property
    def raw_table(self) -> str:
        """Landing table in schema ``raw``: ``<system>__<entity>``."""
        return f"{self.system}__{self.name}"

    @property
    def watermark(self) -> str | None:
        """Column that orders changes; entities with one are extracted by interval."""
        value = self.options.get("watermark")
        return str(value) if value else None

    @property
    def source_object(self) -> str:
        """The table, file pattern or endpoint as the source system names it."""
        if self.kind == "sql":
            return f"{self.options['schema']}.{self.name}"
        if self.kind == "files":
            return f"{self.system_options['drop_folder']}/{self.options['file']}"
        return f"{self.system_options.get('base_path', '')}/{self.options['endpoint']}"

    @property
    def connection_id(self) -> str:
        return str(self.system_options.get("connection_id") or self.system)


@dataclass(frozen=True)
class SourceSystem:
    name: str
    kind: str
    entities: dict[str, EntityContract]
    options: dict[str, Any]

    def entity(self, name: str) -> EntityContract:
        try:
            return self.entities[name]
        except KeyError:
            known = ", ".join(self.entities)
            raise ConfigError(
                f"source system {self.name} has no entity {name!r} ({known})"
            ) from None

    @property
    def connection_id(self) -> str:
        return str(self.options.get("connection_id") or self.name)

    @property
    def upstream_systems(self) -> list[str]:
        """Other systems whose keys this one references (they must be loaded first)."""
        found = {r.system for e in self.entities.values() for r in e.references}
        return sorted(found - {self.name})


def _columns(items: object, where: str) -> tuple[Column, ...]:
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: columns must be a non-empty list")
    columns = []
    for item in items:
        if not isinstance(item, dict) or "name" not in item or "type" not in item:
            raise ConfigError(f"{where}: every column needs a name and a type, got {item!r}")
        unknown = set(item) - {"name", "type", "nullable", "pii", "not_future"}
        if unknown:
            raise ConfigError(f"{where}: column {item['name']!r}: unknown keys {sorted(unknown)}")
        try:
            columns.append(
                Column(
                    item["name"],
                    item["type"],
                    bool(item.get("nullable", True)),
                    bool(item.get("pii", False)),
                    bool(item.get("not_future", False)),
                )
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    names = [c.name for c in columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{where}: columns listed twice: {duplicated}")
    return tuple(columns)


def _entity(system: str, kind: str, item: object, sys_opts: dict, where: str) -> EntityContract:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: an entity must be a mapping")
    name = identifier(item.get("table"), f"{where}: table")
    where = f"{where} ({name})"
    columns = _columns(item.get("columns"), where)
    names = [c.name for c in columns]
    key = item.get("primary_key")
    if not isinstance(key, list) or not key:
        raise ConfigError(f"{where}: primary_key must be a non-empty list of columns")
    missing = [k for k in key if k not in names]
    if missing:
        raise ConfigError(f"{where}: primary key columns {missing} are not among its columns")
    options = {
        k: v for k, v in item.items() if k not in ("columns", "primary_key", "table", "references")
    }
    watermark = options.get("watermark")
    if watermark is not None and watermark not in names:
        raise ConfigError(f"{where}: watermark {watermark!r} is not one of its columns")
    if kind == "sql":
        identifier(options.get("schema"), f"{where}: schema")
    elif kind == "files":
        pattern = options.get("file")
        if not isinstance(pattern, str) or not _FILE_PATTERN.match(pattern) or ".." in pattern:
            raise ConfigError(f"{where}: file {pattern!r} must be a plain file name pattern")
        if options.get("format") not in FORMATS:
            raise ConfigError(f"{where}: format {options.get('format')!r} is not one of {FORMATS}")
        try:
            "".encode(str(options.get("encoding", "utf-8")))
        except LookupError:
            raise ConfigError(f"{where}: unknown encoding {options.get('encoding')!r}") from None
    else:
        identifier(options.get("endpoint"), f"{where}: endpoint")
    references = []
    for column, target in (item.get("references") or {}).items():
        if column not in names:
            raise ConfigError(f"{where}: reference column {column!r} is not one of its columns")
        parts = str(target).split(".")
        if len(parts) != 2:
            raise ConfigError(f"{where}: reference {target!r} must read <system>.<entity>")
        references.append(
            Reference(column, identifier(parts[0], "system"), identifier(parts[1], "entity"))
        )
    return EntityContract(
        system,
        name,
        columns,
        tuple(key),
        tuple(c.name for c in columns if c.pii),
        options,
        kind,
        tuple(references),
        sys_opts,
    )


@cache
def _load_system(name: str, config_dir: Path) -> SourceSystem:
    path = config_dir / f"{name}.yml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no source configuration {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    if doc.get("source_system") != name:
        raise ConfigError(f"{path}: source_system is {doc.get('source_system')!r}, not {name!r}")
    identifier(name, f"{path}: source_system")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{path}: kind {kind!r} is not one of {KINDS}")
    sys_opts = {k: v for k, v in doc.items() if k not in ("entities", "source_system", "kind")}
    if kind == "files":
        folder = sys_opts.get("drop_folder")
        if not isinstance(folder, str) or not _FILE_PATTERN.match(folder) or ".." in folder:
            raise ConfigError(f"{path}: drop_folder {folder!r} must be a plain folder name")
    items = doc.get("entities")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: no entities")
    entities: dict[str, EntityContract] = {}
    for index, item in enumerate(items):
        entity = _entity(name, kind, item, sys_opts, f"{path}: entities[{index}]")
        if entity.name in entities:
            raise ConfigError(f"{path}: entity {entity.name!r} listed twice")
        entities[entity.name] = entity
    return SourceSystem(name, kind, entities, sys_opts)


def load_system(name: str, config_dir: Path = CONFIG_DIR) -> SourceSystem:
    """One source system's definition, validated (cached: the YAML is read once)."""
    system = _load_system(name, config_dir)
    for entity in system.entities.values():
        for ref in entity.references:
            target = system if ref.system == name else _load_system(ref.system, config_dir)
            if ref.entity not in target.entities:
                raise ConfigError(
                    f"{name}.{entity.name}: reference {ref.system}.{ref.entity} does not exist"
                )
            key = target.entities[ref.entity].primary_key
            if len(key) != 1:
                raise ConfigError(
                    f"{name}.{entity.name}: reference {ref.system}.{ref.entity} has a compound key"
                )
    return system


def load_contract(name: str, config_dir: Path = CONFIG_DIR) -> dict[str, EntityContract]:
    """Entities of one source system, keyed by entity name."""
    return load_system(name, config_dir).entities


@cache
def delivered(bank: str, config_dir: Path = CONFIG_DIR) -> dict[str, tuple[str, ...]]:
    """Entities each source system delivers for ``bank`` (``banks.yml``), validated."""
    path = config_dir / "banks.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if bank not in doc:
        raise ConfigError(f"{path}: no bank {bank!r} (known: {', '.join(doc)})")
    found: dict[str, tuple[str, ...]] = {}
    for system, entities in (doc[bank] or {}).items():
        if system not in SYSTEMS:
            raise ConfigError(f"{path}: {bank}: unknown source system {system!r}")
        known = load_system(system, config_dir).entities
        if entities == "all":
            found[system] = tuple(known)
            continue
        unknown = [e for e in entities if e not in known]
        if unknown:
            raise ConfigError(f"{path}: {bank}.{system}: unknown entities {unknown}")
        found[system] = tuple(entities)
    return found
