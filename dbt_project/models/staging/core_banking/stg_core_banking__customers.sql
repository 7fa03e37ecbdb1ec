with

source as (

    select * from {{ source_or_empty('core_banking', 'customers') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['customer_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        customer_id::bigint as customer_id,

        ---------- personal data
        nullif(trim(full_name), '') as full_name,
        nullif(trim(national_id), '') as national_id,
        nullif(trim(mobile), '') as mobile,
        nullif(trim(address), '') as address,

        ---------- attributes
        lower(nullif(trim(customer_type), '')) as customer_type,
        upper(nullif(trim(gender), '')) as gender,
        nullif(trim(city), '') as city,
        nullif(trim(occupation), '') as occupation,
        upper(nullif(trim(branch_code), '')) as branch_code,
        lower(nullif(trim(status), '')) as status,

        ---------- dates and timestamps
        birth_date::date as birth_date,
        joined_on::date as joined_on,
        closed_on::date as closed_on,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
