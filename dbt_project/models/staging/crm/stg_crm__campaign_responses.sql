with

source as (

    select * from {{ source_or_empty('crm', 'campaign_responses') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['response_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        response_id::bigint as response_id,
        campaign_id::bigint as campaign_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        lower(nullif(trim(response), '')) as response,

        ---------- dates and timestamps
        contacted_at::timestamptz as contacted_at,
        responded_at::timestamptz as responded_at,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
