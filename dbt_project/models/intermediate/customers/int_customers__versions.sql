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

versions as (

    select * from {{ ref('base_core_banking__customers') }}

),

renamed as (

    select
        versions.customer_id,
        versions.full_name,
        versions.national_id,
        versions.mobile,
        versions.address,
        versions.customer_type,
        versions.gender,
        versions.city,
        versions.occupation,
        versions.branch_code,
        versions.status,
        versions.birth_date,
        versions.joined_on,
        versions.closed_on,
        versions.updated_at,
        versions._batch_id as batch_id,
        versions._loaded_at as loaded_at,
        row_number() over (
            partition by versions.customer_id, versions.updated_at
            order by versions._batch_id desc, versions._source_row desc nulls last
        ) as load_rank
    from versions
    where versions.customer_id is not null and versions.updated_at is not null

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
