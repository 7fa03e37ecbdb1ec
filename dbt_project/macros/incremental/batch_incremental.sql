{#-
    Batch incremental models: one row per natural key in its latest version,
    kept as a table that a run updates with the raw batches landed since the
    newest batch it holds. Used where a view over every raw version would
    rank tens of millions of rows on every read and every test (the
    transaction-grained staging models and their facts).

    In the model:

        {{ batch_incremental_config(['txn_id']) }}
        with
        new_versions as (
            select * from {{ ref('base_...') }}
            where {{ batch_incremental_newer('_batch_id') }}
        ),
        candidates as (
            select <columns>, _batch_id, _loaded_at, _source_row from new_versions
            {{ batch_incremental_held('new_versions', ['txn_id'], [<columns>]) }}
        ),
        ... latest_version_rank over candidates, keep rank 1 ...

    - batch_incremental_config: materialized incremental, delete+insert on the
      key (a unique index keeps it one row per key), an index on `batch_id`;
      a pre-hook records in the table's comment the newest batch held before
      this run, so that the run's tests check only the rows it wrote;
    - batch_incremental_newer: the predicate on a batch column for batches
      newer than any the table holds (`true` in a full build);
    - batch_incremental_held: in an incremental run, the rows already held
      for the keys that arrive again, as versions to rank with the new ones
      (the held row is the latest of the earlier versions, so ranking it with
      the new ones gives the same winner as ranking every version).

    A full refresh reads every raw version and gives the same table.
-#}

{% macro batch_incremental_config(unique_key, indexes=none) -%}
{{- config(
materialized='incremental',
incremental_strategy='delete+insert',
unique_key=unique_key,
on_schema_change='fail',
indexes=[{'columns': unique_key, 'unique': True}, {'columns': ['batch_id']}] + (indexes or []),
pre_hook=["{{ batch_incremental_record() }}"],
batch_incremental=true,
) -}}
{%- endmacro %}


{% macro batch_incremental_newer(column) -%}
    {%- if is_incremental() -%}
        {%- set newest_held = "(select coalesce(max(held.batch_id), 0) as newest_held_batch_id"
            ~ " from " ~ this ~ " as held)" -%}
        {{ column }} > {{ newest_held }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro batch_incremental_held(new_versions, key_columns, columns) -%}
    {%- if is_incremental() -%}
        {%- set keys = key_columns | join(', ') -%}
        {%- set held_columns = [] -%}
        {%- for column in columns -%}
            {%- do held_columns.append('held.' ~ column) -%}
        {%- endfor -%}
        {%- set held_keys = [] -%}
        {%- for key in key_columns -%}
            {%- do held_keys.append('held.' ~ key) -%}
        {%- endfor %}
union all
select
    {{ held_columns | join(', ') }},
    held.batch_id as _batch_id,
    held.loaded_at as _loaded_at,
    held.source_row as _source_row
from {{ this }} as held
where ({{ held_keys | join(', ') }}) in (select {{ keys }} from {{ new_versions }})
    {%- endif -%}
{%- endmacro %}


{% macro batch_incremental_record() -%}
{#- before an incremental run writes: the newest batch the table holds, for
    the run's tests (incremental_test_scope); a full build leaves no record,
    so its tests check the whole table -#}
    {%- if is_incremental() -%}
do $record$
begin
execute format(
'comment on table %s is %L',
'{{ this }}',
json_build_object(
'batch_incremental',
json_build_object(
'recorded_through', '{{ monthly_incremental_run_stamp() }}',
'after_batch', (select coalesce(max(held.batch_id), 0) from {{ this }} as held)
)
)::text
);
end
$record$
{%- else -%}
        select 1 as full_build
    {%- endif -%}
{%- endmacro %}
