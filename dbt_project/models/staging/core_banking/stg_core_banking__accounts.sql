with

source as (

    select * from {{ source('core_banking', 'accounts') }}

),

latest_versions as (

    select
        source.*,
        row_number() over (
            partition by source.account_id
            order by
                source._batch_id desc,
                source.updated_at desc nulls last,
                source._loaded_at desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        account_id::bigint as account_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        upper(trim(product_code)) as product_code,
        upper(trim(currency)) as currency,

        ---------- numerics
        balance::numeric(18, 2) as balance,
        interest_rate::numeric(8, 5) as interest_rate,

        ---------- dates and timestamps
        opened_on::date as opened_on,
        closed_on::date as closed_on,
        updated_at::timestamptz as updated_at,

        ---------- booleans
        closed_on is null as is_open,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
