{#-
    The month-to-month lifecycle stage transition matrix: per closed month,
    how many customers moved from each stage at the previous month's end to
    each stage at this month's end (staying in a stage is a transition to
    itself), and their share of the customers that were in the from-stage.
    A customer's first month has no previous stage and is not counted.
    Monthly incremental (macro monthly_incremental): rebuilds the months
    mart_customer_lifecycle_monthly rebuilds (a changed month and every
    month after it).
-#}
{{ monthly_incremental_config(trailing_months=1200) }}
{%- set months = monthly_incremental_months() %}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

counted as (

    select
        lifecycle.month_start,
        lifecycle.previous_stage as from_stage,
        lifecycle.lifecycle_stage as to_stage,
        count(*) as customers
    from lifecycle
    where lifecycle.previous_stage is not null
    group by lifecycle.month_start, lifecycle.previous_stage, lifecycle.lifecycle_stage

),

final as (

    select
        counted.month_start::date as month_start,
        counted.from_stage::text as from_stage,
        counted.to_stage::text as to_stage,
        counted.customers::integer as customers,
        round(
            counted.customers::numeric
            / sum(counted.customers) over (
                partition by counted.month_start, counted.from_stage
            ),
            6
        )::numeric(9, 6) as share_of_from_stage
    from counted

)

select * from final
