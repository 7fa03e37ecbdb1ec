with

source as (

    select * from {{ source_or_empty('crm', 'relationship_managers') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(["upper(nullif(trim(rm_id), ''))"]) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        upper(nullif(trim(rm_id), '')) as rm_id,

        ---------- personal data
        nullif(trim(full_name), '') as full_name,

        ---------- attributes
        upper(nullif(trim(branch_code), '')) as branch_code,
        nullif(trim(title), '') as title,

        ---------- dates and timestamps
        hired_on::date as hired_on,
        left_on::date as left_on,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
