with

versions as (

    select * from {{ ref('base_core_banking__customers') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['customer_id']) }} as version_rank
    from versions

),

renamed as (

    select
        customer_id,
        full_name,
        national_id,
        mobile,
        address,
        customer_type,
        gender,
        city,
        occupation,
        branch_code,
        status,
        birth_date,
        joined_on,
        closed_on,
        updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from latest_versions
    where version_rank = 1

)

select * from renamed
