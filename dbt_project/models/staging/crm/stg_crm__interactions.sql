with

source as (

    select * from {{ source_or_empty('crm', 'interactions') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['interaction_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        interaction_id::bigint as interaction_id,
        customer_id::bigint as customer_id,
        upper(nullif(trim(rm_id), '')) as rm_id,
        campaign_id::bigint as campaign_id,

        ---------- attributes
        lower(nullif(trim(channel), '')) as channel,
        lower(nullif(trim(purpose), '')) as purpose,
        lower(nullif(trim(outcome), '')) as outcome,

        ---------- dates and timestamps
        interaction_ts::timestamptz as interaction_ts,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
