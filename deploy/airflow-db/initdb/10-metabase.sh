#!/usr/bin/env bash
# airflow-db, first start only (postgres image, /docker-entrypoint-initdb.d), run as
# POSTGRES_USER (airflow). Creates Metabase's application database and its owner role next
# to Airflow's metadata database; neither can connect to the other's database.
#
# Passwords are set here once: after changing one in .env, run ALTER ROLE ... PASSWORD too.
set -Eeo pipefail

: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
: "${METABASE_DB_USER:?}" "${METABASE_DB_PASSWORD:?}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=airflow_db="$POSTGRES_DB" \
    --set=mb_user="$METABASE_DB_USER" \
    --set=mb_password="$METABASE_DB_PASSWORD" <<'SQL'
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;

CREATE ROLE :"mb_user" LOGIN PASSWORD :'mb_password';
CREATE DATABASE metabase OWNER :"mb_user";
REVOKE ALL ON DATABASE metabase FROM PUBLIC;
SQL
