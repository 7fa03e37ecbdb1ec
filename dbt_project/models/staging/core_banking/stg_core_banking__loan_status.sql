with

source as (

    select * from {{ source_or_empty('core_banking', 'loan_status') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['account_id', 'status_month']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        account_id::bigint as account_id,
        status_month::date as status_month,

        ---------- attributes
        lower(nullif(trim(five_tier_class), '')) as five_tier_class,

        ---------- numerics
        outstanding::numeric(18, 2) as outstanding,
        days_past_due::integer as days_past_due,

        ---------- dates and timestamps
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
