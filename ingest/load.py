"""One entry point for every load: which extractor, from where, for which interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ingest.config import EntityContract, load_system
from ingest.extract_files import load_files
from ingest.extract_http import load_http
from ingest.extract_sql import load_sql
from ingest.http_client import ApiConnection
from ingest.landing import LoadResult


@dataclass(frozen=True)
class Sources:
    """Where each kind of source system is reached: connection URIs by id, the drop folder."""

    connections: dict[str, str]
    data_dir: Path
    bank: str = "demo"

    def uri(self, connection_id: str) -> str:
        try:
            return self.connections[connection_id]
        except KeyError:
            raise KeyError(
                f"no connection {connection_id!r} (known: {', '.join(self.connections)})"
            ) from None


def load_entity(
    entity: EntityContract,
    sources: Sources,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
) -> LoadResult:
    """Load one entity's interval from its source system into raw."""
    kind = load_system(entity.system).kind
    if kind == "sql":
        source = sources.uri(entity.connection_id)
        return load_sql(entity, source, warehouse_url, interval_start, interval_end)
    if kind == "files":
        return load_files(entity, sources.data_dir, warehouse_url, interval_start, interval_end)
    connection = ApiConnection.from_uri(sources.uri(entity.connection_id))
    return load_http(entity, connection, warehouse_url, interval_start, interval_end)
