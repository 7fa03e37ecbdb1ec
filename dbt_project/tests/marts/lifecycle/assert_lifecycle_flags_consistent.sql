{#-
    The flags agree with the stages: active at the start exactly when the
    previous month ended neither prospect nor churned (where there is a
    previous month), churned in the month only for churned customers active
    at its start, and one row per customer in every closed month from its
    first row on (no gaps). Fails for every row that breaks one of them.
-#}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}

),

months as (

    select * from {{ ref('int_finance__closed_months') }}

),

first_rows as (

    select
        lifecycle.customer_id,
        min(lifecycle.month_start) as first_month_start,
        count(*) as months_present
    from lifecycle
    group by lifecycle.customer_id

),

expected_months as (

    select
        first_rows.customer_id,
        first_rows.months_present,
        count(months.month_start) as months_expected
    from first_rows
    inner join months
        on first_rows.first_month_start <= months.month_start
    group by first_rows.customer_id, first_rows.months_present

)

select
    lifecycle.customer_id,
    lifecycle.month_start,
    'active_at_start disagrees with previous_stage' as problem
from lifecycle
where
    lifecycle.previous_stage is not null
    and lifecycle.is_active_at_start
    = (lifecycle.previous_stage in ('prospect', 'churned'))

union all

select
    lifecycle.customer_id,
    lifecycle.month_start,
    'churned in month but not churned, or not active at start' as problem
from lifecycle
where
    lifecycle.is_churned_in_month
    and (lifecycle.lifecycle_stage != 'churned' or not lifecycle.is_active_at_start)

union all

select
    expected_months.customer_id,
    null::date as month_start,
    'months missing after the first row' as problem
from expected_months
where expected_months.months_present != expected_months.months_expected
