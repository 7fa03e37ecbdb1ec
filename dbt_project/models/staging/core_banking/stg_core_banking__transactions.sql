{#-
    The latest version of each core banking transaction, kept as a table: a
    daily run ranks only the versions landed since the newest batch held,
    together with the rows held for the same transactions
    (macros/incremental/batch_incremental.sql); a full refresh ranks every
    version and gives the same table.
-#}
{{ batch_incremental_config(['txn_id'], indexes=[{'columns': ['account_id']}]) }}

{%- set columns = [
    'txn_id', 'account_id', 'channel', 'txn_type', 'direction', 'counterparty_bank',
    'counterparty_account', 'amount', 'fee_amount', 'balance_after', 'txn_ts',
    'updated_at', 'cross_border',
] %}

with

new_versions as (

    select * from {{ ref('base_core_banking__transactions') }}
    where {{ batch_incremental_newer('_batch_id') }}

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
    {{ batch_incremental_held('new_versions', ['txn_id'], columns) }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['txn_id']) }} as version_rank
    from candidates

),

renamed as (

    select
        txn_id,
        account_id,
        channel,
        txn_type,
        direction,
        counterparty_bank,
        counterparty_account,
        amount,
        fee_amount,
        balance_after,
        txn_ts,
        updated_at,
        cross_border,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        _source_row as source_row
    from latest_versions
    where version_rank = 1

)

select * from renamed
