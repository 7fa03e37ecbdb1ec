with

source as (

    select * from {{ source_or_empty('reference', 'unit_costs') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ["lower(nullif(trim(activity), ''))"],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        lower(nullif(trim(activity), '')) as activity,

        ---------- attributes
        nullif(trim(description), '') as description,

        ---------- numerics
        unit_cost::numeric(10, 4) as unit_cost,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
