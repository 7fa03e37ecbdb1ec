-- dim_customer's history is a clean SCD2: for each customer, version n + 1 starts where
-- version n ends (valid_to = next valid_from), versions are non-empty, and only the last
-- version is current (open-ended). Fails with one row per version that breaks it.

with

customers as (

    select * from {{ ref('dim_customer') }}

),

checked as (

    select
        customers.customer_id,
        customers.version_number,
        customers.valid_from,
        customers.valid_to,
        customers.is_current,
        lead(customers.valid_from) over (
            partition by customers.customer_id order by customers.version_number
        ) as next_valid_from
    from customers

)

select *
from checked
where
    valid_to is distinct from next_valid_from
    or valid_to <= valid_from
    or is_current != (next_valid_from is null)
