with

versions as (

    select * from {{ ref('base_wealth__insurance_policies') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['policy_id']) }} as version_rank
    from versions

),

renamed as (

    select
        policy_id,
        customer_id,
        product_code,
        status,
        term_months,
        annual_premium,
        commission_rate,
        start_date,
        renewal_due_on,
        renewed_on,
        updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from latest_versions
    where version_rank = 1

)

select * from renamed
