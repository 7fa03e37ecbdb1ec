with

source as (

    select * from {{ source_or_empty('core_banking', 'balances') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['account_id', 'balance_month']) }} as version_rank
    from source

),

renamed as (

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
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
