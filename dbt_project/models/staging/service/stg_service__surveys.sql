with

source as (

    select * from {{ source_or_empty('service', 'surveys') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['survey_id'], change_column=none) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        survey_id::bigint as survey_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        lower(nullif(trim(touchpoint), '')) as touchpoint,
        satisfaction::integer as satisfaction,
        nps::integer as nps,
        -- `comment` is a keyword in sqlfluff's list, but the contract's column name
        nullif(trim(comment), '') as comment,  -- noqa: RF04

        ---------- dates and timestamps
        surveyed_at::timestamptz as surveyed_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
