{#-
    The link between complaints and churn, per closed month: the customers
    active at the month's start split by whether they opened a complaint in
    the previous `complaint_churn_window_months` months (before the month
    starts, so the complaint comes before the churn), how many of each group
    churned in the month, each group's churn rate (churned / active at
    start) and their ratio (with / without: how many times likelier a
    customer who complained is to leave; null when the without-rate is 0).
    Monthly incremental (macro monthly_incremental): rebuilds the months
    mart_customer_lifecycle_monthly rebuilds (a changed month and every
    month after it).
-#}
{{ monthly_incremental_config(trailing_months=1200) }}
{%- set months = monthly_incremental_months() %}
{%- set window_months = var('complaint_churn_window_months', 6) -%}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

complaints as (

    select * from {{ ref('stg_service__complaints') }}

),

monthly_complaints as (

    select
        complaints.customer_id,
        date_trunc('month', complaints.opened_at)::date as month_start,
        count(*) as complaints_opened
    from complaints
    where complaints.customer_id is not null and complaints.opened_at is not null
    group by complaints.customer_id, date_trunc('month', complaints.opened_at)::date

),

-- Complaints before the customer's first month in the mart (the months
-- before it joined or before the warehouse starts) are counted too.
earlier_complaints as (

    select
        lifecycle.customer_id,
        lifecycle.month_start,
        sum(monthly_complaints.complaints_opened) as complaints_in_window
    from lifecycle
    inner join monthly_complaints
        on
            lifecycle.customer_id = monthly_complaints.customer_id
            and lifecycle.month_start > monthly_complaints.month_start
            and (lifecycle.month_start - interval '{{ window_months }} months')::date
            <= monthly_complaints.month_start
    where lifecycle.is_active_at_start
    group by lifecycle.customer_id, lifecycle.month_start

),

flagged as (

    select
        lifecycle.month_start,
        lifecycle.is_churned_in_month,
        earlier_complaints.complaints_in_window is not null as has_complaint
    from lifecycle
    left join earlier_complaints
        on
            lifecycle.customer_id = earlier_complaints.customer_id
            and lifecycle.month_start = earlier_complaints.month_start
    where lifecycle.is_active_at_start

),

months as (

    select distinct lifecycle.month_start
    from lifecycle

),

counted as (

    select
        months.month_start,
        count(flagged.month_start) filter (where flagged.has_complaint)
            as active_with_complaint,
        count(flagged.month_start) filter (where not flagged.has_complaint)
            as active_without_complaint,
        count(flagged.month_start) filter (
            where flagged.has_complaint and flagged.is_churned_in_month
        ) as churned_with_complaint,
        count(flagged.month_start) filter (
            where not flagged.has_complaint and flagged.is_churned_in_month
        ) as churned_without_complaint
    from months
    left join flagged
        on months.month_start = flagged.month_start
    group by months.month_start

),

rated as (

    select
        counted.*,
        counted.churned_with_complaint::numeric
        / nullif(counted.active_with_complaint, 0) as churn_rate_with_complaint,
        counted.churned_without_complaint::numeric
        / nullif(counted.active_without_complaint, 0) as churn_rate_without_complaint
    from counted

),

final as (

    select
        rated.month_start::date as month_start,
        (rated.active_with_complaint + rated.active_without_complaint)::integer
            as active_at_start,
        rated.active_with_complaint::integer as active_with_complaint,
        rated.active_without_complaint::integer as active_without_complaint,
        (rated.churned_with_complaint + rated.churned_without_complaint)::integer
            as churned,
        rated.churned_with_complaint::integer as churned_with_complaint,
        rated.churned_without_complaint::integer as churned_without_complaint,
        round(rated.churn_rate_with_complaint, 6)::numeric(9, 6) as churn_rate_with_complaint,
        round(rated.churn_rate_without_complaint, 6)::numeric(9, 6)
            as churn_rate_without_complaint,
        round(
            rated.churn_rate_with_complaint / nullif(rated.churn_rate_without_complaint, 0), 4
        )::numeric(12, 4) as churn_rate_ratio
    from rated

)

select * from final
