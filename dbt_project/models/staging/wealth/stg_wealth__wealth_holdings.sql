with

source as (

    select * from {{ source_or_empty('wealth', 'wealth_holdings') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ['customer_id', "upper(nullif(trim(product_code), ''))", 'as_of_date'],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        customer_id::bigint as customer_id,
        upper(nullif(trim(product_code), '')) as product_code,
        as_of_date::date as as_of_date,

        ---------- numerics
        units::numeric(18, 4) as units,
        market_value::numeric(18, 2) as market_value,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
