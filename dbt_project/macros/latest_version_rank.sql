{#-
    Rank of a row among the versions of its key in an append-only `raw` table:
    1 is the latest version. The same natural key lands again in a later batch
    when the source re-delivers a changed (or re-sent) row, so the rule is:

      1. the latest change in the source (`change_column`, `updated_at` by
         default), nulls last;
      2. then the highest load batch (`_batch_id`);
      3. then the last row of the delivery (`_source_row`), nulls last.

    key_columns:   list of the natural key's column names; a text key is passed
                   as its cleaning expression (e.g. "upper(nullif(trim(rm_id), ''))")
                   so that keys equal after cleaning are versions of one key.
    change_column: the column that stamps a change in the source, or none for
                   entities without one (events, month-end snapshots, reference
                   extracts): their versions are ordered by batch and row only.
-#}
{% macro latest_version_rank(key_columns, change_column='updated_at') -%}
    {%- set order_by = [] -%}
    {%- if change_column -%}
        {%- do order_by.append(change_column ~ ' desc nulls last') -%}
    {%- endif -%}
    {%- do order_by.append('_batch_id desc') -%}
    {%- do order_by.append('_source_row desc nulls last') -%}
    row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by {{ order_by | join(', ') }}
    )
{%- endmacro %}
