{#-
    The latest version of each card transaction, kept as a table: a daily
    run ranks only the versions landed since the newest batch held, together
    with the rows held for the same transactions
    (macros/incremental/batch_incremental.sql); a full refresh ranks every
    version and gives the same table.
-#}
{{ batch_incremental_config(['card_txn_id'], indexes=[{'columns': ['card_id']}]) }}

{%- set columns = [
    'card_txn_id', 'card_id', 'merchant_name', 'merchant_category', 'channel', 'currency',
    'amount', 'txn_ts', 'cross_border',
] %}

with

source as (

    select * from {{ source_or_empty('cards', 'card_transactions') }} as delivered
    where {{ batch_incremental_newer('delivered._batch_id') }}

),

new_versions as (

    select
        ---------- ids
        card_txn_id::bigint as card_txn_id,
        card_id::bigint as card_id,

        ---------- attributes
        nullif(trim(merchant_name), '') as merchant_name,
        upper(nullif(trim(merchant_category), '')) as merchant_category,
        lower(nullif(trim(channel), '')) as channel,
        upper(nullif(trim(currency), '')) as currency,

        ---------- numerics
        amount::numeric(18, 2) as amount,

        ---------- dates and timestamps
        txn_ts::timestamptz as txn_ts,

        ---------- booleans
        cross_border::boolean as cross_border,

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
    {{ batch_incremental_held('new_versions', ['card_txn_id'], columns) }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['card_txn_id'], change_column=none) }} as version_rank
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
