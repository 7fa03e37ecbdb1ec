with

source as (

    select * from {{ source_or_empty('service', 'complaints') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['complaint_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        complaint_id::bigint as complaint_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        -- `category` is a keyword in sqlfluff's list, but the contract's column name
        lower(nullif(trim(category), '')) as category,  -- noqa: RF04
        lower(nullif(trim(severity), '')) as severity,
        lower(nullif(trim(channel), '')) as channel,
        lower(nullif(trim(status), '')) as status,
        sla_hours::integer as sla_hours,
        nullif(trim(description), '') as description,

        ---------- dates and timestamps
        opened_at::timestamptz as opened_at,
        closed_at::timestamptz as closed_at,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
