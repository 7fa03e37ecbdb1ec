with

source as (

    select * from {{ source_or_empty('reference', 'pd_lgd') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ["lower(nullif(trim(five_tier_class), ''))"],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        lower(nullif(trim(five_tier_class), '')) as five_tier_class,

        ---------- numerics
        pd_annual::numeric(8, 5) as pd_annual,
        lgd::numeric(8, 5) as lgd,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
