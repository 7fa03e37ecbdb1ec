{#-
    Every version of every customer that core banking delivered to `raw`, in
    order, for the history of dim_customer. Raw is append-only and keeps all
    versions, so this history rebuilds identically from raw at any time (no
    dbt snapshot): a day-by-day build and a full refresh give the same rows.
      1. A version is a (customer_id, updated_at); delivered more than once
         (re-sent rows, re-run days), its latest load wins: highest
         `_batch_id`, then the last row of the delivery.
      2. Consecutive versions whose business columns (every contract column
         but updated_at) are all equal collapse into the first of them.
-#}
with

source as (

    select * from {{ source_or_empty('core_banking', 'customers') }}

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
        _loaded_at::timestamptz as loaded_at,
        row_number() over (
            partition by customer_id, updated_at
            order by _batch_id desc, _source_row desc nulls last
        ) as load_rank

    from source
    where customer_id is not null and updated_at is not null

),

latest_loads as (

    select
        renamed.*,
        md5(
            row(
                renamed.customer_type,
                renamed.full_name,
                renamed.national_id,
                renamed.mobile,
                renamed.gender,
                renamed.birth_date,
                renamed.city,
                renamed.address,
                renamed.occupation,
                renamed.branch_code,
                renamed.joined_on,
                renamed.status,
                renamed.closed_on
            )::text
        ) as business_hash
    from renamed
    where renamed.load_rank = 1

),

compared as (

    select
        latest_loads.*,
        lag(latest_loads.business_hash) over (
            partition by latest_loads.customer_id
            order by latest_loads.updated_at
        ) as previous_business_hash
    from latest_loads

),

final as (

    select
        compared.customer_id,
        compared.full_name,
        compared.national_id,
        compared.mobile,
        compared.address,
        compared.customer_type,
        compared.gender,
        compared.city,
        compared.occupation,
        compared.branch_code,
        compared.status,
        compared.birth_date,
        compared.joined_on,
        compared.closed_on,
        compared.updated_at,
        compared.business_hash,
        compared.batch_id,
        compared.loaded_at
    from compared
    where compared.previous_business_hash is distinct from compared.business_hash

)

select * from final
