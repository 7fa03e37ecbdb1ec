# Image for every Airflow process of the production shape (docker-compose.yml): api-server,
# scheduler, dag-processor, triggerer, Celery workers and the one-shot airflow-init.
#
#   docker compose build            # or: docker build -t crm-warehouse-airflow .
#
# Dependencies come from requirements.lock only (exact pins from `uv pip compile`), so the
# image has the same versions as CI and the developers' environments.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Pinned installer; bump deliberately (uv's resolver/installer behaviour changes between minors).
ARG UV_VERSION=0.13.9
# Same uid as the official apache/airflow image, so volumes carried over keep working.
ARG AIRFLOW_UID=50000

# dbt_project/ is mounted read-only in compose, so dbt's outputs go to the state volume; no
# anonymous usage statistics leave the bank.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/crm/venv \
    PATH=/opt/crm/venv/bin:$PATH \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    AIRFLOW_HOME=/opt/airflow \
    CRM_STATE_DIR=/opt/crm/state \
    CRM_DATA_DIR=/opt/crm/data \
    DBT_TARGET_PATH=/opt/crm/state/dbt/target \
    DBT_LOG_PATH=/opt/crm/state/dbt/logs \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && groupadd --gid "${AIRFLOW_UID}" airflow \
    && useradd --uid "${AIRFLOW_UID}" --gid airflow --home-dir /opt/airflow \
        --no-create-home --shell /bin/bash airflow

WORKDIR /opt/crm/app

# 1. Third-party dependencies, exactly as locked (own layer: changes only with the lock).
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv "${VIRTUAL_ENV}" --python /usr/local/bin/python3.11 \
    && uv pip sync --python "${VIRTUAL_ENV}/bin/python" requirements.lock

# 2. The project's packages, without dependencies (the lock already has them). Editable, so
#    warehouse.settings.PROJECT_ROOT is /opt/crm/app and finds dags/ and dbt_project/ here.
COPY pyproject.toml README.md ./
COPY warehouse/ warehouse/
COPY ingest/ ingest/
COPY sources/ sources/
COPY ml/ ml/
COPY expectations/ expectations/
COPY reports/ reports/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps -e .

# Fail the build, not the first task, when the lock lacks what compose's CeleryExecutor needs
# (PackageNotFoundError names the missing distribution).
RUN python -c "from importlib.metadata import version; \
print(*(f'{d}=={version(d)}' for d in ('apache-airflow', 'apache-airflow-providers-celery', \
'celery', 'redis', 'crm-warehouse')))"

# 3. DAGs and the dbt project (compose also mounts them read-only over these copies).
COPY dags/ dags/
COPY dbt_project/ dbt_project/

RUN mkdir -p /opt/airflow/logs /opt/crm/state/dbt /opt/crm/data \
    && chown -R airflow:airflow /opt/airflow /opt/crm/state /opt/crm/data

USER airflow
WORKDIR /opt/airflow
EXPOSE 8080

ENTRYPOINT ["airflow"]
CMD ["version"]
