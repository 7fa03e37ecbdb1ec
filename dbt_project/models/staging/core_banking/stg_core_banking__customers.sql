with

source as (

    select * from {{ source('core_banking', 'customers') }}

),

latest_versions as (

    select
        source.*,
        row_number() over (
            partition by source.customer_id
            order by
                source._batch_id desc,
                source.updated_at desc nulls last,
                source._loaded_at desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        customer_id::bigint as customer_id,

        ---------- personal data
        trim(full_name) as full_name,
        nullif(trim(national_id), '') as national_id,
        nullif(trim(mobile), '') as mobile,

        ---------- attributes
        upper(trim(gender)) as gender,
        upper(trim(branch_code)) as branch_code,

        ---------- dates and timestamps
        birth_date::date as birth_date,
        joined_on::date as joined_on,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
