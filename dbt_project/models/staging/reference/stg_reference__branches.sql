with

source as (

    select * from {{ source_or_empty('reference', 'branches') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ["upper(nullif(trim(branch_code), ''))"],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        upper(nullif(trim(branch_code), '')) as branch_code,

        ---------- attributes
        nullif(trim(branch_name), '') as branch_name,
        nullif(trim(city), '') as city,
        nullif(trim(region), '') as region,
        upper(nullif(trim(parent_code), '')) as parent_code,
        -- `level` is a keyword in sqlfluff's list, but the contract's column name
        lower(nullif(trim(level), '')) as level,  -- noqa: RF04

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
