with

source as (

    select * from {{ source_or_empty('crm', 'rm_assignments') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['assignment_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        assignment_id::bigint as assignment_id,
        customer_id::bigint as customer_id,
        upper(nullif(trim(rm_id), '')) as rm_id,

        ---------- dates and timestamps
        valid_from::date as valid_from,
        valid_to::date as valid_to,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
