{{ config(materialized='view') }}

{#-
    The current version of every customer (dim_customer where is_current),
    with the customer's current relationship manager: what BI tools should
    read when they do not need history.
-#}
with

customers as (

    select * from {{ ref('dim_customer') }}

),

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

),

current_assignments as (

    select
        assignments.customer_id,
        assignments.rm_id
    from assignments
    where assignments.is_current

),

final as (

    select
        customers.customer_version_key,
        customers.customer_id,
        customers.version_number,
        customers.full_name_masked,
        customers.national_id_masked,
        customers.mobile_masked,
        customers.customer_type,
        customers.gender,
        customers.age_band,
        customers.occupation,
        customers.city,
        customers.branch_code,
        customers.source_branch_code,
        customers.status,
        customers.joined_on,
        customers.closed_on,
        customers.tenure_months,
        customers.tenure_band,
        customers.age_tenure_as_of,
        current_assignments.rm_id,
        customers.valid_from,
        customers.batch_id
    from customers
    left join current_assignments
        on customers.customer_id = current_assignments.customer_id
    where customers.is_current

)

select * from final
