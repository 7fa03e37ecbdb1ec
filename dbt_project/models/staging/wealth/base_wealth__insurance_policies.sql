{#-
    Every version of every insurance policy landed in raw, cleaned (codes
    upper-cased, statuses lower-cased, contract types), with the raw lineage
    columns under their raw names. The insurance system rolls a renewed
    policy forward (its new version is 'active' with the next renewal due
    date and no renewed_on), so renewals live in the version history:
    stg_wealth__insurance_policies keeps the latest version of each policy,
    the renewals mart and the commission lines read the history here.
-#}
with

source as (

    select * from {{ source_or_empty('wealth', 'insurance_policies') }}

),

cleaned as (

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
        _batch_id::bigint as _batch_id,
        _loaded_at::timestamptz as _loaded_at,
        _source_row::bigint as _source_row

    from source

)

select * from cleaned
