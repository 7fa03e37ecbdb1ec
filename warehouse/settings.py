"""The one place that reads the environment.

Every other module receives a ``Settings`` object (or a URL taken from an Airflow
connection) instead of looking at ``os.environ``. Each field documents its variable
and default; the README's configuration table is generated from the same names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Airflow connection ids the DAGs use; docker-compose.yml wires the same ids.
WAREHOUSE_CONN_ID = "warehouse"
CORE_BANKING_CONN_ID = "core_banking"
CRM_API_CONN_ID = "crm_api"

EMBEDDED_USER = "postgres"
WAREHOUSE_DB = "warehouse"
AIRFLOW_DB = "airflow"
CORE_BANKING_DB = "demo_core_banking"


class SettingsError(ValueError):
    """A setting has a value the project cannot use; the message says which and why."""


@dataclass(frozen=True)
class Setting:
    """Documentation of one environment variable (used by the README and `crm doctor`)."""

    name: str
    default: str
    help: str


SETTINGS_DOC: tuple[Setting, ...] = (
    Setting(
        "WAREHOUSE_URL",
        "(unset: embedded server)",
        "Postgres URL of the warehouse database. When set, no embedded server is "
        "started and that server is used.",
    ),
    Setting(
        "CRM_STATE_DIR",
        "<project>/.crm",
        "Local state: embedded Postgres data, Airflow home, logs, GX results. Git-ignored.",
    ),
    Setting(
        "CRM_DATA_DIR",
        "<CRM_STATE_DIR>/data",
        "Where source systems drop files (card files, CRM extracts, ...).",
    ),
    Setting("CRM_PG_PORT", "54320", "TCP port of the embedded Postgres on 127.0.0.1."),
    Setting(
        "CORE_BANKING_URL",
        "(embedded: database demo_core_banking)",
        "Postgres URL of the core-banking source database.",
    ),
    Setting(
        "AIRFLOW_HOME",
        "<CRM_STATE_DIR>/airflow",
        "Airflow's home folder (its config, logs).",
    ),
    Setting(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "(the warehouse server, database airflow)",
        "Airflow metadata database, as SQLAlchemy URL.",
    ),
    Setting("CRM_AIRFLOW_PORT", "8080", "Port of the Airflow UI started by `crm airflow`."),
    Setting("CRM_LOG_LEVEL", "INFO", "Log level of the project's own loggers."),
    Setting(
        "CRM_BERKA_DIR",
        "<project>/../shared/data/berka",
        "Folder of the PKDD'99 (Berka) extract read by `crm berka load`.",
    ),
    Setting("CRM_API_PORT", "8765", "Port of the demo bank's CRM API on 127.0.0.1."),
    Setting(
        "CRM_API_TOKEN",
        "demo-crm-token",
        "Bearer token of the CRM API (the demo's default; set a secret for anything else).",
    ),
    Setting(
        "CRM_API_URL",
        "http://127.0.0.1:<CRM_API_PORT>",
        "Base URL of the CRM API the pipeline pulls (the bank's CRM; the demo's by default).",
    ),
    Setting("CRM_DBT_THREADS", "4", "dbt threads."),
    Setting(
        "CRM_SOURCE",
        "demo",
        "Which bank the pipeline pulls: `demo` (the simulated bank) or `berka` (the PKDD'99 "
        "extract in CRM_BERKA_DIR); ingest/config/banks.yml lists what each delivers.",
    ),
)
SOURCES = ("demo", "berka")


def _require_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}..{high}")
    return value


def _validate_pg_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            f"{name}={url!r} must start with postgresql:// "
            "(e.g. postgresql://user:password@host:5432/warehouse)"
        )
    if not parts.path.strip("/"):
        raise SettingsError(f"{name}={url!r} names no database (add /<database> to the URL)")
    return url


def _validate_http_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{name}={url!r} must be an http:// or https:// URL with a host "
            "(e.g. https://crm.bank.example:8443)"
        )
    try:
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError:
        raise SettingsError(f"{name}={url!r} has an invalid port") from None
    if parts.username is not None or parts.password is not None:
        raise SettingsError(f"{name} must not hold credentials: set the token in CRM_API_TOKEN")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name}={url!r} must not have a query or fragment")
    return url.rstrip("/")


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """A libpq URL as SQLAlchemy wants it (``postgresql+psycopg://``)."""
    parts = urlsplit(url)
    return urlunsplit((f"postgresql+{driver}", parts.netloc, parts.path, parts.query, ""))


def database_of(url: str) -> str:
    return urlsplit(url).path.strip("/")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    data_dir: Path
    airflow_home: Path
    pg_port: int
    warehouse_url_override: str | None
    core_banking_url_override: str | None
    airflow_db_override: str | None
    airflow_port: int
    log_level: str
    dbt_threads: int
    crm_api_port: int
    crm_api_token: str
    crm_api_url: str
    berka_dir: Path
    source: str = "demo"
    extra_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        state_dir = Path(env.get("CRM_STATE_DIR") or PROJECT_ROOT / ".crm").expanduser().absolute()
        data_dir = Path(env.get("CRM_DATA_DIR") or state_dir / "data").expanduser().absolute()
        airflow_home = (
            Path(env.get("AIRFLOW_HOME") or state_dir / "airflow").expanduser().absolute()
        )
        warehouse_url = env.get("WAREHOUSE_URL", "").strip() or None
        if warehouse_url:
            _validate_pg_url("WAREHOUSE_URL", warehouse_url)
        core_url = env.get("CORE_BANKING_URL", "").strip() or None
        if core_url:
            _validate_pg_url("CORE_BANKING_URL", core_url)
        log_level = env.get("CRM_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CRM_LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        crm_api_port = _require_int(env, "CRM_API_PORT", 8765, 1024, 65535)
        crm_api_url = _validate_http_url(
            "CRM_API_URL",
            env.get("CRM_API_URL", "").strip() or f"http://127.0.0.1:{crm_api_port}",
        )
        source = env.get("CRM_SOURCE", "").strip().lower() or "demo"
        if source not in SOURCES:
            raise SettingsError(f"CRM_SOURCE={source!r}: use {' or '.join(SOURCES)}")
        # Airflow's own variables pass through to Airflow processes untouched.
        extra = {k: v for k, v in env.items() if k.startswith("AIRFLOW__")}
        return cls(
            state_dir=state_dir,
            data_dir=data_dir,
            airflow_home=airflow_home,
            pg_port=_require_int(env, "CRM_PG_PORT", 54320, 1024, 65535),
            warehouse_url_override=warehouse_url,
            core_banking_url_override=core_url,
            airflow_db_override=env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or None,
            airflow_port=_require_int(env, "CRM_AIRFLOW_PORT", 8080, 1, 65535),
            log_level=log_level,
            dbt_threads=_require_int(env, "CRM_DBT_THREADS", 4, 1, 64),
            crm_api_port=crm_api_port,
            crm_api_token=env.get("CRM_API_TOKEN", "").strip() or "demo-crm-token",
            crm_api_url=crm_api_url,
            berka_dir=Path(
                env.get("CRM_BERKA_DIR") or PROJECT_ROOT.parent / "shared" / "data" / "berka"
            )
            .expanduser()
            .absolute(),
            source=source,
            extra_env=extra,
        )

    # --- the embedded server -------------------------------------------------------

    @property
    def embedded(self) -> bool:
        """True when the project runs its own Postgres (no WAREHOUSE_URL)."""
        return self.warehouse_url_override is None

    @property
    def pgdata_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def gx_dir(self) -> Path:
        return self.state_dir / "gx"

    @property
    def server_url(self) -> str:
        """URL of the server's maintenance database (used to create databases)."""
        return with_database(self.warehouse_url, "postgres")

    # --- databases -------------------------------------------------------------------

    @property
    def warehouse_url(self) -> str:
        if self.warehouse_url_override:
            return self.warehouse_url_override
        return f"postgresql://{EMBEDDED_USER}@127.0.0.1:{self.pg_port}/{WAREHOUSE_DB}"

    @property
    def core_banking_url(self) -> str:
        return self.core_banking_url_override or with_database(self.warehouse_url, CORE_BANKING_DB)

    @property
    def airflow_db_url(self) -> str:
        """SQLAlchemy URL of Airflow's metadata database."""
        if self.airflow_db_override:
            return self.airflow_db_override
        return sqlalchemy_url(with_database(self.warehouse_url, AIRFLOW_DB))

    @property
    def managed_databases(self) -> list[str]:
        """Databases this project creates on the server when they are missing."""
        wanted = [database_of(self.warehouse_url)]
        if not self.airflow_db_override:
            wanted.append(AIRFLOW_DB)
        if not self.core_banking_url_override:
            wanted.append(CORE_BANKING_DB)
        return wanted

    @property
    def crm_api_uri(self) -> str:
        """Airflow-style URI of the CRM API connection: the bearer token is the password."""
        parts = urlsplit(self.crm_api_url)
        netloc = f":{quote(self.crm_api_token, safe='')}@{parts.netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def connection_uris(self) -> dict[str, str]:
        """Every source connection by Airflow connection id (outside Airflow)."""
        return {
            WAREHOUSE_CONN_ID: self.warehouse_url,
            CORE_BANKING_CONN_ID: self.core_banking_url,
            CRM_API_CONN_ID: self.crm_api_uri,
        }

    def effective(self) -> dict[str, str]:
        """The value in force for each documented variable (for `crm settings`)."""
        return {
            "WAREHOUSE_URL": self.warehouse_url,
            "CRM_STATE_DIR": str(self.state_dir),
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_PG_PORT": str(self.pg_port),
            "CORE_BANKING_URL": self.core_banking_url,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db_url,
            "CRM_AIRFLOW_PORT": str(self.airflow_port),
            "CRM_LOG_LEVEL": self.log_level,
            "CRM_DBT_THREADS": str(self.dbt_threads),
            "CRM_BERKA_DIR": str(self.berka_dir),
            "CRM_API_PORT": str(self.crm_api_port),
            "CRM_API_TOKEN": (
                self.crm_api_token if self.crm_api_token == "demo-crm-token" else "***"
            ),
            "CRM_API_URL": self.crm_api_url,
            "CRM_SOURCE": self.source,
        }

    # --- environments for child processes -------------------------------------------

    def airflow_env(self) -> dict[str, str]:
        """Variables an Airflow process needs: home, DAGs, metadata DB, connections."""
        metadata = self.airflow_db_url
        env = {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A DAG file's parse is cheap, but a loaded 2-core machine can take Airflow's
            # own imports past the 30 s default.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            # Cosmos' partial-parse cache per project state (its default is shared in /tmp).
            "AIRFLOW__COSMOS__CACHE_DIR": str(self.state_dir / "cosmos"),
            # A bank's pipeline does not report its runs to Cosmos' makers.
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # Cosmos would copy every status it records during the build into one Airflow
            # Variable, rewritten whole at each of ~5,000 records (for a retried build; ours
            # is retried whole): dbt took 245 s inside Cosmos for a 165 s plain daily build.
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
            f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": self.warehouse_url,
            f"AIRFLOW_CONN_{CORE_BANKING_CONN_ID.upper()}": self.core_banking_url,
            f"AIRFLOW_CONN_{CRM_API_CONN_ID.upper()}": self.crm_api_uri,
            "CRM_STATE_DIR": str(self.state_dir),
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_LOG_LEVEL": self.log_level,
            "CRM_DBT_THREADS": str(self.dbt_threads),
            "CRM_SOURCE": self.source,
            "CRM_BERKA_DIR": str(self.berka_dir),
        }
        if metadata.startswith("postgresql+psycopg://"):
            # Airflow 3 also opens an async engine; psycopg 3 serves both.
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = metadata.replace(
                "postgresql+psycopg://", "postgresql+psycopg_async://", 1
            )
        env.update(self.extra_env)
        return env

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The current environment plus Airflow's, for subprocesses (airflow, dbt)."""
        env = dict(os.environ)
        env.update(self.airflow_env())
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        if extra:
            env.update(extra)
        return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings.from_env()
