with

source as (

    select * from {{ source_or_empty('crm', 'campaigns') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['campaign_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        campaign_id::bigint as campaign_id,

        ---------- attributes
        -- `name` is a keyword in sqlfluff's list, but the contract's column name
        nullif(trim(name), '') as name,  -- noqa: RF04
        upper(nullif(trim(product_code), '')) as product_code,
        lower(nullif(trim(channel), '')) as channel,

        ---------- dates and timestamps
        start_date::date as start_date,
        end_date::date as end_date,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
