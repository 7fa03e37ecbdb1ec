{#-
    One row per customer and closed month in which the relationship is open
    (joined by the month's end, not closed before it starts), with who owns
    the customer that month: home branch, segment (the customer type until
    the ML segments exist) and the relationship manager assigned at the
    month's end ('UNASSIGNED' if none). Monthly incremental (macro
    monthly_incremental).
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

),

final as (

    select
        customers.customer_id,
        months.month_start,
        months.month_end,
        months.days_in_month,
        customers.customer_type as segment,
        customers.branch_code,
        coalesce(assignments.rm_id, 'UNASSIGNED') as rm_id
    from customers
    inner join months
        on
            coalesce(customers.joined_on, months.month_start) <= months.month_end
            and (customers.closed_on is null or customers.closed_on >= months.month_start)
    left join assignments
        on
            customers.customer_id = assignments.customer_id
            and months.month_end >= assignments.valid_from
            and (assignments.valid_to is null or months.month_end < assignments.valid_to)

)

select * from final
