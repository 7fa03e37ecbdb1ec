#!/usr/bin/env bash
# warehouse-db, first start only (postgres image, /docker-entrypoint-initdb.d), run as
# POSTGRES_USER: the warehouse owner, who `crm migrate` and dbt connect as (WAREHOUSE_URL).
#
# Creates
#   - role CORE_BANKING_DB_USER owning database demo_core_banking: the demo core-banking
#     source system (CORE_BANKING_URL). A real bank points CORE_BANKING_URL at its own server.
#   - role BI_DB_USER: read-only login for Metabase on the warehouse database. It can read
#     every schema and table the warehouse owner creates later (crm migrate, dbt); revoke in
#     the warehouse's grants what BI must not see (e.g. schemas raw and quarantine).
#
# Passwords are set here once: after changing one in .env, run ALTER ROLE ... PASSWORD too.
set -Eeo pipefail

: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
: "${CORE_BANKING_DB_USER:?}" "${CORE_BANKING_DB_PASSWORD:?}"
: "${BI_DB_USER:?}" "${BI_DB_PASSWORD:?}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=owner="$POSTGRES_USER" \
    --set=warehouse_db="$POSTGRES_DB" \
    --set=core_user="$CORE_BANKING_DB_USER" \
    --set=core_password="$CORE_BANKING_DB_PASSWORD" \
    --set=bi_user="$BI_DB_USER" \
    --set=bi_password="$BI_DB_PASSWORD" <<'SQL'
-- Only the roles granted below may connect to either database.
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;

-- The demo core-banking source system.
CREATE ROLE :"core_user" LOGIN PASSWORD :'core_password';
CREATE DATABASE demo_core_banking OWNER :"core_user";
REVOKE ALL ON DATABASE demo_core_banking FROM PUBLIC;

-- Read-only BI access to the warehouse.
CREATE ROLE :"bi_user" LOGIN PASSWORD :'bi_password';
ALTER ROLE :"bi_user" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"warehouse_db" TO :"bi_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE ON SCHEMAS TO :"bi_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT ON TABLES TO :"bi_user";
SQL
