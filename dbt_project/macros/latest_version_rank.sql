{#-
    Rank of a row among the versions of its key in an append-only `raw` table:
    1 is the latest version. The rule is the same for every raw table: the
    highest load batch (`_batch_id`) wins, then the latest change in the source
    (`updated_at`), then the latest load (`_loaded_at`).

    key_columns: list of the natural key's column names.
-#}
{% macro latest_version_rank(key_columns) -%}
    row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by
            _batch_id desc,
            updated_at desc nulls last,
            _loaded_at desc nulls last
    )
{%- endmacro %}
