with

source as (

    select * from {{ source_or_empty('cards', 'annual_fees') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['fee_id'], change_column=none) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        fee_id::bigint as fee_id,
        card_id::bigint as card_id,

        ---------- numerics
        amount::numeric(18, 2) as amount,

        ---------- dates and timestamps
        fee_date::date as fee_date,

        ---------- booleans
        waived::boolean as waived,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
