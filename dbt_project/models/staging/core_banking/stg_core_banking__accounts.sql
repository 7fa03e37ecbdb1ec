with

source as (

    select * from {{ source_or_empty('core_banking', 'accounts') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['account_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        account_id::bigint as account_id,
        customer_id::bigint as customer_id,

        ---------- attributes
        upper(nullif(trim(product_code), '')) as product_code,
        lower(nullif(trim(account_type), '')) as account_type,
        upper(nullif(trim(currency), '')) as currency,
        upper(nullif(trim(branch_code), '')) as branch_code,
        lower(nullif(trim(status), '')) as status,
        term_months::integer as term_months,

        ---------- numerics
        principal::numeric(18, 2) as principal,
        interest_rate::numeric(8, 5) as interest_rate,

        ---------- dates and timestamps
        opened_on::date as opened_on,
        maturity_on::date as maturity_on,
        closed_on::date as closed_on,
        updated_at::timestamptz as updated_at,

        ---------- booleans
        lower(nullif(trim(status), '')) = 'open' and closed_on is null as is_open,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
