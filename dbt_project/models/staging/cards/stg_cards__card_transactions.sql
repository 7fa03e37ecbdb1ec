with

source as (

    select * from {{ source_or_empty('cards', 'card_transactions') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['card_txn_id'], change_column=none) }} as version_rank
    from source

),

renamed as (

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
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
