with

source as (

    select * from {{ source_or_empty('wealth', 'wealth_subscriptions') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['subscription_id'], change_column=none) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        subscription_id::bigint as subscription_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        upper(nullif(trim(product_code), '')) as product_code,
        lower(nullif(trim(trade_type), '')) as trade_type,

        ---------- numerics
        amount::numeric(18, 2) as amount,
        commission::numeric(18, 2) as commission,

        ---------- dates and timestamps
        trade_date::date as trade_date,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
