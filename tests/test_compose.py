"""Static checks of the production deployment shape: docker-compose.yml, Dockerfile, deploy/.

No Docker and no network: the compose file is parsed with PyYAML and interpolated here the
way `docker compose config` does, with the values an operator copies from deploy/env.example
(and a stand-in for each secret that file leaves empty). The Airflow services' environment is
then fed to warehouse.settings, the one module that reads the environment, so the compose
wiring and the project's own idea of its connections cannot drift apart.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import pytest
import yaml
from conftest import run_crm

from sources.demo_bank.config import Layout
from sources.demo_bank.crm_api import API_PREFIX
from warehouse.settings import (
    CORE_BANKING_CONN_ID,
    CORE_BANKING_DB,
    CRM_API_CONN_ID,
    WAREHOUSE_CONN_ID,
    Settings,
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS_LOCK = ROOT / "requirements.lock"

# Airflow service -> words its command must contain (the image's entrypoint is `airflow`).
AIRFLOW_COMMANDS = {
    "airflow-init": ("airflow db migrate", "crm migrate"),
    "airflow-apiserver": ("api-server",),
    "airflow-scheduler": ("scheduler",),
    "airflow-dag-processor": ("dag-processor",),
    "airflow-triggerer": ("triggerer",),
    "airflow-worker": ("celery worker",),
}
AIRFLOW_SERVICES = tuple(AIRFLOW_COMMANDS)
LONG_RUNNING_AIRFLOW = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
REQUIRED_SERVICES = {
    *AIRFLOW_SERVICES,
    "airflow-db",
    "warehouse-db",
    "redis",
    "crm-api",
    "mailpit",
    "metabase",
}
CONN_IDS = (WAREHOUSE_CONN_ID, CORE_BANKING_CONN_ID, CRM_API_CONN_ID)


# --------------------------------------------------------------------------- interpolation

# `$$` (a literal dollar), `${...}` and `$NAME`, as in the Compose specification.
_DOLLAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)
REQUIRED_OPS = (":?", "?")
DEFAULT_OPS = (":-", "-")


@dataclass(frozen=True)
class VarUse:
    name: str
    op: str | None
    arg: str


def var_uses(text: str) -> Iterator[VarUse]:
    for match in _DOLLAR.finditer(text):
        if match["escaped"]:
            continue
        if match["named"]:
            yield VarUse(match["named"], None, "")
            continue
        inner = _BRACED.fullmatch(match["braced"])
        assert inner, f"cannot parse ${{{match['braced']}}} (nested interpolation?) in {text!r}"
        yield VarUse(inner["name"], inner["op"], inner["arg"] or "")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        inner = _BRACED.fullmatch(match["braced"])
        assert inner, f"cannot parse ${{{match['braced']}}} in {text!r}"
        name, op, arg = inner["name"], inner["op"], inner["arg"] or ""
        value = env.get(name)
        is_set, is_nonempty = value is not None, bool(value)
        if op is None:
            return value or ""
        if op in DEFAULT_OPS:
            return value if (is_nonempty if op == ":-" else is_set) else arg
        if op in REQUIRED_OPS:
            if not (is_nonempty if op == ":?" else is_set):
                raise LookupError(f"compose would refuse to start: {name}: {arg}")
            return value
        return arg if (is_nonempty if op == ":+" else is_set) else ""

    return _DOLLAR.sub(replace, text)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Mapping):
        return {resolve(k, env): resolve(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    return node


# --------------------------------------------------------------------------- the files


@cache
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_]\w*", name), f"env.example:{number}: {line!r}"
        assert name not in values, f"env.example:{number}: {name} listed twice"
        values[name] = value
    return values


@cache
def all_uses() -> tuple[VarUse, ...]:
    return tuple(use for text in strings(raw_compose()) for use in var_uses(text))


@cache
def required_vars() -> frozenset[str]:
    return frozenset(use.name for use in all_uses() if use.op in REQUIRED_OPS)


def stand_in(name: str) -> str:
    """A URL-safe value for a secret the operator fills in."""
    return "test-" + name.lower().replace("_", "-")


@cache
def operator_env() -> dict[str, str]:
    """What .env holds after `cp deploy/env.example .env` and filling in the secrets."""
    env = dict(env_example())
    for name in required_vars():
        env[name] = env.get(name) or stand_in(name)
    return env


@cache
def compose() -> dict[str, Any]:
    return resolve(raw_compose(), operator_env())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def as_env(environment: Any) -> dict[str, str]:
    if environment is None:
        return {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def service_env(name: str) -> dict[str, str]:
    return as_env(services()[name].get("environment"))


def common_env() -> dict[str, str]:
    return as_env(compose()["x-airflow-common"]["environment"])


def url(value: str) -> SplitResult:
    """Parts of a URL; SQLAlchemy schemes such as postgresql+psycopg_async included."""
    scheme, sep, rest = value.removeprefix("db+").partition("://")
    assert sep, f"not a URL: {value!r}"
    return urlsplit("x://" + rest)._replace(scheme=scheme)


def command_text(service: Mapping[str, Any], key: str = "command") -> str:
    value = service.get(key) or ""
    return " ".join(value) if isinstance(value, list) else value


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        pending += " " + stripped.removesuffix("\\")
        if stripped.endswith("\\"):
            continue
        keyword, _, rest = pending.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return tuple(instructions)


def dockerfile_args(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


@cache
def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in dockerfile_args("ENV"):
        for token in shlex.split(rest):
            name, sep, value = token.partition("=")
            assert sep, f"use ENV NAME=value, not {rest!r}"
            env[name] = value
    return env


def container_env(service: str) -> dict[str, str]:
    """The environment an Airflow container starts with: the image's ENV, then compose's."""
    env = {k: v for k, v in image_env().items() if k not in ("PATH", "VIRTUAL_ENV")}
    env.update(service_env(service))
    return env


def mounts(service: str) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume of a service."""
    result = []
    for volume in services()[service].get("volumes", []):
        assert isinstance(volume, str), f"{service}: use the short volume syntax"
        source, target, *mode = volume.split(":")
        result.append((source, target, mode[0] if mode else "rw"))
    return result


def mount_target(service: str, source: str) -> str:
    targets = [target for src, target, _ in mounts(service) if src == source]
    assert len(targets) == 1, f"{service} should mount {source} once"
    return targets[0]


# --------------------------------------------------------------------------- services


def test_compose_spec_file_has_every_service() -> None:
    assert "version" not in raw_compose(), "the Compose spec has no `version:` key"
    missing = REQUIRED_SERVICES - set(raw_compose()["services"])
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(REQUIRED_SERVICES))
def test_service_has_an_image_or_a_buildable_dockerfile(name: str) -> None:
    service = services()[name]
    build = service.get("build")
    if build is not None:
        build = {"context": build} if isinstance(build, str) else build
        context = ROOT / build.get("context", ".")
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        assert service.get("image", "").startswith("crm-warehouse-airflow:"), name
    else:
        image = service.get("image", "")
        assert image, f"{name} has neither image nor build"
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag and tag not in ("", "latest"), f"{name}: pin {image!r}"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_runs_its_command(name: str) -> None:
    service = services()[name]
    entrypoint = command_text(service, "entrypoint")
    command = command_text(service)
    full = command if entrypoint.startswith("/bin/") else f"airflow {command}"
    for words in AIRFLOW_COMMANDS[name]:
        assert words in full, f"{name} should run `{words}`, runs {full!r}"


# --------------------------------------------------------------------------- variables


def test_interpolated_variables_are_documented_in_env_example() -> None:
    used = {use.name for use in all_uses()}
    documented = set(env_example())
    assert not used - documented, f"add to deploy/env.example: {sorted(used - documented)}"
    assert not documented - used, f"not used by compose: {sorted(documented - used)}"


def test_every_variable_is_required_or_defaulted_consistently() -> None:
    by_name: dict[str, set[tuple[str | None, str]]] = {}
    for use in all_uses():
        by_name.setdefault(use.name, set()).add((use.op, use.arg))
    for name, forms in sorted(by_name.items()):
        ops = {op for op, _ in forms}
        assert None not in ops, f"${{{name}}} without a default or :? becomes '' silently"
        if ops & set(REQUIRED_OPS):
            assert ops <= set(REQUIRED_OPS), f"{name} is required in one place only"
            assert env_example()[name] == "", f"env.example must not commit a value for {name}"
        else:
            defaults = {arg for op, arg in forms if op in DEFAULT_OPS}
            assert len(defaults) == 1, f"{name} has different defaults: {sorted(defaults)}"
            assert env_example()[name] == defaults.pop(), f"env.example's {name} != the default"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    assert required_vars(), "secrets should be ${VAR:?message}"
    for name in sorted(required_vars()):
        env = {k: v for k, v in operator_env().items() if k != name}
        with pytest.raises(LookupError, match=name):
            resolve(raw_compose(), env)


def test_secrets_are_never_written_into_compose() -> None:
    secret_key = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY|_PASS|_AUTH|TOKEN)$")
    required = re.compile(r"\$\{[A-Za-z_]\w*:\?[^}]*\}")
    for name, service in raw_compose()["services"].items():
        for key, value in as_env(service.get("environment")).items():
            if secret_key.search(key):
                assert required.search(value), f"{name}.{key} must come from .env via :?"
    secrets = {operator_env()[name] for name in required_vars()}
    for name in services():
        for key, value in service_env(name).items():
            if "://" in value:
                password = url(value).password
                assert password in (None, *secrets), f"{name}.{key}: password not from .env"


def test_environment_values_are_strings() -> None:
    # Compose rejects YAML booleans in `environment`; quote them.
    for name, service in raw_compose()["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, Mapping):
            for key, value in environment.items():
                assert not isinstance(value, bool), f"{name}.{key}: quote {value!r}"


# --------------------------------------------------------------------------- Airflow wiring


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_share_the_common_definition(name: str) -> None:
    common = compose()["x-airflow-common"]
    service = services()[name]
    for key in ("build", "image", "volumes", "init"):
        assert service.get(key) == common.get(key), f"{name}.{key} differs from x-airflow-common"
    env = service_env(name)
    differing = {k for k, v in common_env().items() if env.get(k) != v}
    assert not differing, f"{name} overrides or lacks common variables: {sorted(differing)}"


def test_executor_is_celery_with_redis_broker_and_airflow_db_metadata() -> None:
    env = common_env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"

    broker = url(env["AIRFLOW__CELERY__BROKER_URL"])
    redis = services()["redis"]
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert "6379" in [str(port) for port in redis.get("expose", [])]
    assert broker.password == redis["environment"]["REDISCLI_AUTH"]
    assert broker.password in redis["command"], "broker password != redis --requirepass"

    db = service_env("airflow-db")
    metadata = url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    backend = url(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    for found in (metadata, backend):
        assert found.scheme.startswith("postgresql")
        assert found.hostname == "airflow-db"
        assert found.username == db["POSTGRES_USER"]
        assert found.password == db["POSTGRES_PASSWORD"]
        assert found.path == "/" + db["POSTGRES_DB"]


def test_async_metadata_url_uses_the_same_driver_family() -> None:
    # Airflow 3 opens an async engine too; without this it would want asyncpg.
    env = common_env()
    sync = url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    async_ = url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"])
    assert sync.scheme == "postgresql+psycopg"
    assert async_.scheme == "postgresql+psycopg_async"
    assert (async_.netloc, async_.path) == (sync.netloc, sync.path)


def test_workers_reach_the_execution_api_of_the_apiserver() -> None:
    env = common_env()
    execution = url(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution.hostname == "airflow-apiserver"
    assert execution.path == "/execution/"
    apiserver = services()["airflow-apiserver"]
    container_ports = [str(port).rsplit(":", 1)[-1] for port in apiserver.get("ports", [])]
    assert str(execution.port) in container_ports
    assert f"--port {execution.port}" in command_text(apiserver)
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert env.get(key), f"{key} must be shared by every Airflow component"
    worker_deps = services()["airflow-worker"]["depends_on"]
    assert worker_deps["airflow-apiserver"]["condition"] == "service_healthy"


def test_ui_login_is_not_open_to_everyone() -> None:
    env = service_env("airflow-apiserver")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"].lower() == "false"
    user, _, role = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].partition(":")
    assert (user, role) == (env["AIRFLOW_ADMIN_USER"], "admin")
    assert env["AIRFLOW_ADMIN_PASSWORD"] == operator_env()["AIRFLOW_ADMIN_PASSWORD"]
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in command_text(services()["airflow-apiserver"])


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
@pytest.mark.parametrize("conn_id", CONN_IDS)
def test_connections_equal_what_settings_derive(name: str, conn_id: str) -> None:
    env = container_env(name)
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    assert key in env, f"DAGs use conn id {conn_id!r}: {name} needs {key}"
    derived = Settings.from_env(env).airflow_env()
    assert env[key] == derived[key]
    assert url(env[key]).hostname in services(), f"{key} should point at a compose service"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_settings_inside_the_containers_match_the_compose_shape(name: str) -> None:
    env = container_env(name)
    settings = Settings.from_env(env)
    derived = settings.airflow_env()
    assert not settings.embedded
    assert derived["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert derived["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert env["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"
    assert derived["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"
    assert derived["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"].lower() == "false"
    assert (
        derived["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert derived["AIRFLOW__CORE__DAGS_FOLDER"] == mount_target(name, "./dags")
    assert derived["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == mount_target(name, "airflow-logs")
    assert str(settings.state_dir) == mount_target(name, "crm-state")
    assert str(settings.data_dir) == mount_target(name, "crm-data")
    # The airflow and core-banking databases come with the compose servers; `crm migrate`
    # has only the warehouse to look after.
    assert settings.managed_databases == [url(env["WAREHOUSE_URL"]).path.strip("/")]


def test_databases_exist_where_the_urls_point() -> None:
    env = common_env()
    server = service_env("warehouse-db")
    warehouse = url(env["WAREHOUSE_URL"])
    assert warehouse.hostname == "warehouse-db"
    assert warehouse.username == server["POSTGRES_USER"]
    assert warehouse.password == server["POSTGRES_PASSWORD"]
    assert warehouse.path == "/" + server["POSTGRES_DB"]

    core = url(env["CORE_BANKING_URL"])
    assert core.hostname == "warehouse-db"
    assert core.path == "/" + CORE_BANKING_DB
    assert core.username == server["CORE_BANKING_DB_USER"]
    assert core.password == server["CORE_BANKING_DB_PASSWORD"]
    assert f"CREATE DATABASE {CORE_BANKING_DB}" in initdb_text("warehouse-db")

    metabase = service_env("metabase")
    metadata_server = service_env("airflow-db")
    assert metabase["MB_DB_HOST"] == "airflow-db"
    assert metabase["MB_DB_USER"] == metadata_server["METABASE_DB_USER"]
    assert metabase["MB_DB_PASS"] == metadata_server["METABASE_DB_PASSWORD"]
    assert f"CREATE DATABASE {metabase['MB_DB_DBNAME']}" in initdb_text("airflow-db")


def initdb_text(service: str) -> str:
    source = next(s for s, t, _ in mounts(service) if t == "/docker-entrypoint-initdb.d")
    scripts = sorted((ROOT / source).glob("*.sh")) + sorted((ROOT / source).glob("*.sql"))
    assert scripts, f"{service}: no init scripts in {source}"
    return "\n".join(script.read_text() for script in scripts)


def test_crm_api_serves_the_demo_bank_on_the_compose_network_only() -> None:
    crm_api = services()["crm-api"]
    conn = url(common_env()[f"AIRFLOW_CONN_{CRM_API_CONN_ID.upper()}"])
    assert (conn.scheme, conn.hostname) == ("http", "crm-api")
    assert f"{conn.scheme}://{conn.hostname}:{conn.port}" == common_env()["CRM_API_URL"]

    command = command_text(crm_api, "entrypoint") + " " + command_text(crm_api)
    served = f"crm demo-bank serve-crm --host 0.0.0.0 --allow-non-loopback --port {conn.port}"
    assert served in command
    assert not crm_api.get("ports"), "crm-api must not be published"
    assert str(conn.port) in [str(port) for port in crm_api.get("expose", [])]
    probe = command_text(crm_api["healthcheck"], "test")
    assert f"localhost:{conn.port}{API_PREFIX}/health" in probe

    # Same image and data folder as the workers, so it serves what the pipeline publishes.
    common = compose()["x-airflow-common"]
    assert (crm_api["build"], crm_api["image"]) == (common["build"], common["image"])
    settings = Settings.from_env(container_env("crm-api"))
    assert str(settings.data_dir) == mount_target("crm-api", "crm-data")
    for name in AIRFLOW_SERVICES:
        assert mount_target(name, "crm-data") == mount_target("crm-api", "crm-data")
    state_file = Layout(settings.data_dir).state_file.relative_to(settings.data_dir)
    assert f"${{CRM_DATA_DIR}}/{state_file}" in command, "waits for another state file"

    # The token it checks is the connection's password.
    assert settings.crm_api_token == unquote(conn.password or "")
    assert settings.crm_api_token == common_env()["CRM_API_TOKEN"]
    assert service_env("crm-api")["CRM_API_TOKEN"] == operator_env()["CRM_API_TOKEN"]


def test_serve_crm_refuses_a_non_loopback_host_without_the_opt_in(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    # An empty data folder: even past the host check, no server can start.
    env = {**test_env, "CRM_DATA_DIR": str(tmp_path)}
    refused = run_crm(["demo-bank", "serve-crm", "--host", "0.0.0.0"], env, timeout=120)
    assert refused.returncode == 1
    assert "refusing to serve the demo CRM on '0.0.0.0'" in refused.stderr
    assert "--allow-non-loopback" in refused.stderr
    allowed = run_crm(
        ["demo-bank", "serve-crm", "--host", "0.0.0.0", "--allow-non-loopback"], env, timeout=120
    )
    assert allowed.returncode == 1
    assert "refusing" not in allowed.stderr and "no demo bank" in allowed.stderr


def test_reports_are_mailed_through_mailpit() -> None:
    env = common_env()
    mailpit = services()["mailpit"]
    assert env["AIRFLOW__SMTP__SMTP_HOST"] == "mailpit"
    assert env["AIRFLOW__SMTP__SMTP_PORT"] in [str(p) for p in mailpit.get("expose", [])]
    smtp = url(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert (smtp.scheme, smtp.hostname, str(smtp.port)) == ("smtp", "mailpit", "1025")


# --------------------------------------------------------------------------- dependencies


def test_depends_on_names_existing_services_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for name, service in services().items():
        deps = service.get("depends_on") or {}
        graph[name] = set(deps)
        unknown = graph[name] - set(services())
        assert not unknown, f"{name} depends on unknown services {sorted(unknown)}"

    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "visiting", f"dependency cycle: {' -> '.join([*path, node])}"
        state[node] = "visiting"
        for dep in sorted(graph[node]):
            visit(dep, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])


def test_dependency_conditions_can_be_met() -> None:
    for name, service in services().items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition", "service_started")
            target = services()[dep]
            if condition == "service_healthy":
                check = target.get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dep} must be a one-shot"


@pytest.mark.parametrize("name", LONG_RUNNING_AIRFLOW)
def test_airflow_services_start_after_init(name: str) -> None:
    deps = services()[name]["depends_on"]
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    for db in ("airflow-db", "warehouse-db", "redis"):
        assert deps[db]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(REQUIRED_SERVICES - {"airflow-init"}))
def test_long_running_services_have_healthchecks(name: str) -> None:
    check = services()[name].get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck"
    assert services()[name].get("restart") in ("always", "unless-stopped")


def test_airflow_healthchecks_use_airflow_3_probes() -> None:
    def probe(name: str) -> str:
        return command_text(services()[name]["healthcheck"], "test")

    assert "/api/v2/" in probe("airflow-apiserver")
    assert "8974/health" in probe("airflow-scheduler")
    assert common_env()["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"
    assert "jobs check --job-type DagProcessorJob" in probe("airflow-dag-processor")
    assert "jobs check --job-type TriggererJob" in probe("airflow-triggerer")
    assert "inspect ping" in probe("airflow-worker")


# --------------------------------------------------------------------------- ports, volumes


def published_ports() -> list[tuple[str, str, str, int]]:
    """(service, host ip, protocol, host port) of every published port."""
    found = []
    for name, service in services().items():
        for port in service.get("ports", []):
            if isinstance(port, Mapping):
                ip, published = port.get("host_ip", ""), port.get("published")
                protocol = port.get("protocol", "tcp")
            else:
                spec, _, protocol = str(port).partition("/")
                parts = spec.split(":")
                assert len(parts) == 3, f"{name}: publish {port!r} as host_ip:host:container"
                ip, published = parts[0], parts[1]
            assert published, f"{name}: {port!r} publishes a random host port"
            found.append((name, ip, protocol or "tcp", int(published)))
    return found


def test_published_ports_do_not_collide_and_bind_an_address() -> None:
    seen: dict[tuple[str, int], str] = {}
    for name, ip, protocol, port in published_ports():
        assert ip == operator_env()["CRM_BIND_ADDRESS"], f"{name}:{port} binds {ip!r}"
        key = (protocol, port)
        assert key not in seen, f"{name} and {seen.get(key)} both publish {protocol}/{port}"
        seen[key] = name
    assert {name for name, *_ in published_ports()} >= {"airflow-apiserver", "metabase"}


def test_volumes_exist_and_code_is_mounted_read_only() -> None:
    declared = set(compose().get("volumes") or {})
    for name in services():
        for source, _target, mode in mounts(name):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind source {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
            if source in ("./dags", "./dbt_project"):
                assert mode == "ro", f"{name} mounts {source} writable"
    for name in AIRFLOW_SERVICES:
        assert mount_target(name, "./dbt_project").endswith("/dbt_project")


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_from_the_lock_with_pinned_uv() -> None:
    runs = dockerfile_args("RUN")
    synced = any(re.search(r"uv pip sync\b.*\brequirements\.lock\b", run) for run in runs)
    assert synced, "the image should `uv pip sync ... requirements.lock`"
    no_deps = any(re.search(r"uv pip install\b.*--no-deps", run) for run in runs)
    assert no_deps, "install the project with `uv pip install --no-deps`"
    args = dict(rest.partition("=")[::2] for rest in dockerfile_args("ARG"))
    pinned = re.compile(r"\d+\.\d+\.\d+")
    literal = any(re.search(r"uv==\d+\.\d+\.\d+", run) for run in runs)
    via_arg = any("uv==${UV_VERSION}" in run for run in runs) and pinned.fullmatch(
        args.get("UV_VERSION", "")
    )
    assert literal or via_arg, "install a pinned uv version"
    makefile = ROOT / "Makefile"
    if via_arg and makefile.exists():
        local = re.search(r"(?m)^UV_VERSION\s*:?=\s*(\S+)", makefile.read_text())
        assert not local or local[1] == args["UV_VERSION"], "same uv as the Makefile"
    base = dockerfile_args("FROM")[0]
    assert "python:3.11-slim" in (args.get("PYTHON_IMAGE", "") if "${" in base else base)


def test_dockerfile_copies_code_dags_and_dbt_project() -> None:
    sources = {src.rstrip("/") for rest in dockerfile_args("COPY") for src in rest.split()[:-1]}
    include = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in include["include"]}
    missing = ({"dags", "dbt_project", "requirements.lock", "pyproject.toml"} | packages) - sources
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored() -> None:
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for rest in dockerfile_args("COPY"):
        if rest.startswith("--from"):
            continue
        for source in rest.split()[:-1]:
            if source.startswith("--"):
                continue
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
            hits = [p for p in ignored if fnmatch(path, p) or PurePosixPath(path).match(p)]
            assert not hits, f"COPY {source} is excluded by .dockerignore {hits}"


def test_dockerfile_runs_airflow_as_uid_50000() -> None:
    assert dockerfile_args("USER")[-1] in ("airflow", "50000", "airflow:airflow")
    runs = " ".join(dockerfile_args("RUN"))
    args = dict(rest.partition("=")[::2] for rest in dockerfile_args("ARG"))
    uid = re.search(r"useradd\b.*--uid\s+\"?(\$\{?\w+\}?|\d+)", runs)
    assert uid, "create the airflow user with useradd --uid"
    value = uid[1].strip("${}")
    assert args.get(value, value) == "50000"
    assert dockerfile_args("ENTRYPOINT")[-1].replace(" ", "") == '["airflow"]'


def test_image_environment_matches_the_mounts() -> None:
    env = image_env()
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["CRM_STATE_DIR"] == "/opt/crm/state"
    assert env["CRM_DATA_DIR"] == "/opt/crm/data"
    # dbt_project/ is read-only in the containers: dbt must write elsewhere.
    assert env["DBT_TARGET_PATH"].startswith(env["CRM_STATE_DIR"] + "/")
    assert env["DBT_LOG_PATH"].startswith(env["CRM_STATE_DIR"] + "/")


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".venv", ".crm", ".git", ".env", "dbt_project/target"):
        assert needed in patterns, f".dockerignore should exclude {needed}"
    assert any("__pycache__" in pattern for pattern in patterns)


def test_lock_has_what_the_celery_executor_needs() -> None:
    if not REQUIREMENTS_LOCK.exists():
        pytest.skip("requirements.lock not written yet")
    pinned = {
        match[1].lower().replace("_", "-")
        for match in re.finditer(
            r"(?m)^([A-Za-z0-9][\w.-]*)(?:\[[^\]]*\])?==", REQUIREMENTS_LOCK.read_text()
        )
    }
    for name in ("apache-airflow", "apache-airflow-providers-celery", "celery", "redis"):
        assert name in pinned, f"requirements.lock lacks {name} (compose runs CeleryExecutor)"
