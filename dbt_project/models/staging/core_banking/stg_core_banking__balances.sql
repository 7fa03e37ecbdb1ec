{#-
    The latest version of each account's month (average and month-end
    balance), kept as a table: a daily run ranks only the versions landed
    since the newest batch held, together with the rows held for the same
    account-months (macros/incremental/batch_incremental.sql); a full
    refresh ranks every version and gives the same table.
-#}
{{
    batch_incremental_config(
        ['account_id', 'balance_month'], indexes=[{'columns': ['balance_month']}]
    )
}}

{%- set columns = [
    'account_id', 'balance_month', 'avg_balance', 'end_balance', 'days', 'updated_at',
] %}

with

source as (

    select * from {{ source_or_empty('core_banking', 'balances') }} as delivered
    where {{ batch_incremental_newer('delivered._batch_id') }}

),

new_versions as (

    select
        ---------- ids
        account_id::bigint as account_id,
        balance_month::date as balance_month,

        ---------- numerics
        avg_balance::numeric(18, 2) as avg_balance,
        end_balance::numeric(18, 2) as end_balance,
        -- `days` is a keyword in sqlfluff's list, but the contract's column name
        days::integer as days,  -- noqa: RF04

        ---------- dates and timestamps
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as _batch_id,
        _loaded_at::timestamptz as _loaded_at,
        _source_row::bigint as _source_row

    from source

),

candidates as (

    select
        {%- for column in columns %}
            {{ column }},
        {%- endfor %}
        _batch_id,
        _loaded_at,
        _source_row
    from new_versions
    {{ batch_incremental_held('new_versions', ['account_id', 'balance_month'], columns) }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['account_id', 'balance_month']) }} as version_rank
    from candidates

),

renamed as (

    select
        {%- for column in columns %}
            {{ column }},
        {%- endfor %}
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        _source_row as source_row
    from latest_versions
    where version_rank = 1

)

select * from renamed
