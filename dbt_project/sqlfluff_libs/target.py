"""Stand-in for dbt's `target` when sqlfluff renders models with the jinja templater.

sqlfluff lints without a database or a profile, so this module fills `target.*`
with the values of the `dev` target in profiles.yml.
"""

name = "dev"
type = "postgres"
schema = "analytics"
database = "crm_warehouse"
threads = 4
