with

source as (

    select * from {{ source_or_empty('wealth', 'insurance_policies') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['policy_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        policy_id::bigint as policy_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        upper(nullif(trim(product_code), '')) as product_code,
        lower(nullif(trim(status), '')) as status,
        term_months::integer as term_months,

        ---------- numerics
        annual_premium::numeric(18, 2) as annual_premium,
        commission_rate::numeric(6, 4) as commission_rate,

        ---------- dates and timestamps
        start_date::date as start_date,
        renewal_due_on::date as renewal_due_on,
        renewed_on::date as renewed_on,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
