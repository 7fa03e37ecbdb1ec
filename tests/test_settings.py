from pathlib import Path

import pytest

from warehouse.settings import (
    PROJECT_ROOT,
    SETTINGS_DOC,
    Settings,
    SettingsError,
    sqlalchemy_url,
    with_database,
)


def test_defaults_use_the_embedded_server_inside_the_project() -> None:
    s = Settings.from_env({})
    assert s.embedded
    assert s.state_dir == PROJECT_ROOT / ".crm"
    assert s.pgdata_dir == PROJECT_ROOT / ".crm" / "pgdata"
    assert s.warehouse_url == "postgresql://postgres@127.0.0.1:54320/warehouse"
    assert s.core_banking_url.endswith(":54320/demo_core_banking")
    assert s.airflow_db_url == "postgresql+psycopg://postgres@127.0.0.1:54320/airflow"
    assert s.managed_databases == ["warehouse", "airflow", "demo_core_banking"]


def test_warehouse_url_points_everything_at_that_server() -> None:
    s = Settings.from_env({"WAREHOUSE_URL": "postgresql://etl:s%40cret@db.bank:6432/dwh"})
    assert not s.embedded
    assert s.warehouse_url == "postgresql://etl:s%40cret@db.bank:6432/dwh"
    assert s.core_banking_url == "postgresql://etl:s%40cret@db.bank:6432/demo_core_banking"
    assert s.airflow_db_url == "postgresql+psycopg://etl:s%40cret@db.bank:6432/airflow"
    assert s.server_url == "postgresql://etl:s%40cret@db.bank:6432/postgres"
    assert s.managed_databases == ["dwh", "airflow", "demo_core_banking"]


def test_airflow_env_carries_connections_and_metadata() -> None:
    s = Settings.from_env({"CRM_PG_PORT": "60000", "CRM_STATE_DIR": "/tmp/x"})
    env = s.airflow_env()
    assert env["AIRFLOW_CONN_WAREHOUSE"] == s.warehouse_url
    assert env["AIRFLOW_CONN_CORE_BANKING"] == s.core_banking_url
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(":60000/airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg_async")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert env["AIRFLOW_HOME"] == "/tmp/x/airflow"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    # Cosmos keeps its dbt cache with the project's state and reports nothing outside.
    assert env["AIRFLOW__COSMOS__CACHE_DIR"] == "/tmp/x/cosmos"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    # The build is retried whole, so no per-record backup of its statuses.
    assert env["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"


def test_airflow_own_settings_pass_through_and_win() -> None:
    own = "postgresql+psycopg://af:pw@meta:5432/airflow_meta"
    s = Settings.from_env(
        {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": own, "AIRFLOW__CORE__PARALLELISM": "8"}
    )
    env = s.airflow_env()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == own
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"
    assert "airflow" not in s.managed_databases


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WAREHOUSE_URL": "mysql://x@h/db"}, "must start with postgresql://"),
        ({"WAREHOUSE_URL": "postgresql://x@h:5432"}, "names no database"),
        ({"CRM_PG_PORT": "fifty"}, "not a whole number"),
        ({"CRM_PG_PORT": "80"}, "outside 1024..65535"),
        ({"CRM_LOG_LEVEL": "loud"}, "CRM_LOG_LEVEL"),
        ({"CRM_API_URL": "ftp://crm.bank"}, "CRM_API_URL=.* must be an http:// or https://"),
        ({"CRM_API_URL": "crm.bank:8443"}, "CRM_API_URL=.* must be an http:// or https://"),
        ({"CRM_API_URL": "https://"}, "URL with a host"),
        ({"CRM_API_URL": "https://crm.bank:99999"}, "invalid port"),
        ({"CRM_API_URL": "https://u:secret@crm.bank"}, "set the token in CRM_API_TOKEN"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_crm_api_connection_carries_the_token_as_password() -> None:
    default = Settings.from_env({"CRM_API_PORT": "9001"})
    assert default.crm_api_url == "http://127.0.0.1:9001"
    assert default.crm_api_uri == "http://:demo-crm-token@127.0.0.1:9001"
    s = Settings.from_env({"CRM_API_URL": "https://crm.bank:8443/rest/", "CRM_API_TOKEN": "a/b@c"})
    assert s.crm_api_url == "https://crm.bank:8443/rest"
    assert s.crm_api_uri == "https://:a%2Fb%40c@crm.bank:8443/rest"
    assert s.airflow_env()["AIRFLOW_CONN_CRM_API"] == s.crm_api_uri
    assert s.connection_uris()["crm_api"] == s.crm_api_uri
    assert s.effective()["CRM_API_URL"] == "https://crm.bank:8443/rest"
    assert "a/b@c" not in str(s.effective())


def test_url_helpers() -> None:
    assert with_database("postgresql://u@h:1/a?sslmode=require", "b") == (
        "postgresql://u@h:1/b?sslmode=require"
    )
    assert sqlalchemy_url("postgres://u@h:1/a") == "postgresql+psycopg://u@h:1/a"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [item.name for item in SETTINGS_DOC if item.name not in readme]
    assert not missing, f"README lacks settings {missing}"


def test_nothing_else_reads_the_environment() -> None:
    offenders = []
    for folder in ("warehouse", "ingest", "sources", "ml", "expectations", "reports", "dags"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "warehouse":
                continue
            text = path.read_text(encoding="utf-8")
            if "os.environ" in text or "getenv(" in text:
                offenders.append(str(Path(path).relative_to(PROJECT_ROOT)))
    assert not offenders, f"read the environment outside warehouse/settings.py: {offenders}"


def test_effective_values_cover_every_documented_setting() -> None:
    values = Settings.from_env({"CRM_PG_PORT": "60001"}).effective()
    assert set(values) == {item.name for item in SETTINGS_DOC}
    assert values["CRM_PG_PORT"] == "60001"
    assert values["WAREHOUSE_URL"].endswith(":60001/warehouse")
