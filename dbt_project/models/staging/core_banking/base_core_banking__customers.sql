{#-
    Every version of every core banking customer landed in raw, cleaned
    (blanks to null, codes upper-cased, categories lower-cased, contract
    types), with the raw lineage columns under their raw names. Two readers:
    stg_core_banking__customers (the latest version of each customer) and
    int_customers__versions (the history behind dim_customer).
-#}
with

source as (

    select * from {{ source_or_empty('core_banking', 'customers') }}

),

cleaned as (

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
        _batch_id::bigint as _batch_id,
        _loaded_at::timestamptz as _loaded_at,
        _source_row::bigint as _source_row

    from source

)

select * from cleaned
