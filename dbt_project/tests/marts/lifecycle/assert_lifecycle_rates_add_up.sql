{#-
    The churn marts add up to the lifecycle mart: per month, the bank row of
    mart_churn_rates_monthly and mart_complaints_churn count the customers
    active at the start and churned in mart_customer_lifecycle_monthly; the
    segment, branch and RM rows each add up to the bank row; the transition
    matrix counts every customer with a previous stage and each of its
    from-stage rows sums to a share of 1. Fails for every month and check
    that disagrees.
-#}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}

),

rates as (

    select * from {{ ref('mart_churn_rates_monthly') }}

),

complaints_churn as (

    select * from {{ ref('mart_complaints_churn') }}

),

transitions as (

    select * from {{ ref('mart_lifecycle_transitions_monthly') }}

),

lifecycle_totals as (

    select
        lifecycle.month_start,
        count(*) filter (where lifecycle.is_active_at_start) as active_at_start,
        count(*) filter (where lifecycle.is_churned_in_month) as churned,
        count(*) filter (where lifecycle.previous_stage is not null) as with_previous
    from lifecycle
    group by lifecycle.month_start

),

dimension_totals as (

    select
        rates.month_start,
        rates.dimension,
        sum(rates.active_at_start) as active_at_start,
        sum(rates.churned) as churned
    from rates
    where rates.dimension in ('bank', 'segment', 'branch', 'rm')
    group by rates.month_start, rates.dimension

),

transition_totals as (

    select
        transitions.month_start,
        sum(transitions.customers) as customers
    from transitions
    group by transitions.month_start

),

from_stage_shares as (

    select
        transitions.month_start,
        transitions.from_stage,
        sum(transitions.share_of_from_stage) as share_sum
    from transitions
    group by transitions.month_start, transitions.from_stage

)

select
    lifecycle_totals.month_start,
    'churn rates ' || dimension_totals.dimension as check_name
from lifecycle_totals
left join dimension_totals
    on lifecycle_totals.month_start = dimension_totals.month_start
where
    dimension_totals.month_start is null
    or dimension_totals.active_at_start != lifecycle_totals.active_at_start
    or dimension_totals.churned != lifecycle_totals.churned

union all

select
    lifecycle_totals.month_start,
    'complaints churn' as check_name
from lifecycle_totals
left join complaints_churn
    on lifecycle_totals.month_start = complaints_churn.month_start
where
    complaints_churn.month_start is null
    or complaints_churn.active_at_start != lifecycle_totals.active_at_start
    or complaints_churn.churned != lifecycle_totals.churned

union all

select
    lifecycle_totals.month_start,
    'transitions' as check_name
from lifecycle_totals
left join transition_totals
    on lifecycle_totals.month_start = transition_totals.month_start
where coalesce(transition_totals.customers, 0) != lifecycle_totals.with_previous

union all

select
    from_stage_shares.month_start,
    'transition shares of ' || from_stage_shares.from_stage as check_name
from from_stage_shares
where abs(from_stage_shares.share_sum - 1) > 0.0001
