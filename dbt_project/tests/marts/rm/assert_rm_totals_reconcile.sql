{#-
    Fails for every closed month where the sums over the lines of
    mart_rm_performance_monthly differ from their sources: contribution and
    trailing-12-month contribution (fct_customer_contribution_monthly), key
    and potential key accounts (mart_key_accounts), complaints and SLA
    breaches opened in the month (fct_complaints), and active-at-start and
    churned customers (mart_customer_lifecycle_monthly).
-#}
with

performance as (

    select * from {{ ref('mart_rm_performance_monthly') }}

),

months as (

    select * from {{ ref('int_finance__closed_months') }}

),

contribution as (

    select * from {{ ref('fct_customer_contribution_monthly') }}

),

key_accounts as (

    select * from {{ ref('mart_key_accounts') }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}

),

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}

),

rm_totals as (

    select
        performance.month_start,
        sum(performance.contribution) as contribution,
        sum(performance.contribution_trailing_12m) as contribution_trailing_12m,
        sum(performance.key_accounts) as key_accounts,
        sum(performance.potential_key_accounts) as potential_key_accounts,
        sum(performance.complaints) as complaints,
        sum(performance.sla_breaches) as sla_breaches,
        sum(performance.active_at_start) as active_at_start,
        sum(performance.churned_in_month) as churned_in_month
    from performance
    group by performance.month_start

),

contribution_totals as (

    select
        contribution.month_start,
        sum(contribution.contribution) as contribution,
        sum(contribution.contribution_trailing_12m) as contribution_trailing_12m
    from contribution
    group by contribution.month_start

),

key_account_totals as (

    select
        key_accounts.month_start,
        count(*) filter (where key_accounts.is_key_account) as key_accounts,
        count(*) filter (where key_accounts.is_potential_key_account) as potential_key_accounts
    from key_accounts
    group by key_accounts.month_start

),

complaint_totals as (

    select
        complaints.opened_month as month_start,
        count(*) as complaints,
        count(*) filter (where complaints.is_sla_breached) as sla_breaches
    from complaints
    group by complaints.opened_month

),

lifecycle_totals as (

    select
        lifecycle.month_start,
        count(*) filter (where lifecycle.is_active_at_start) as active_at_start,
        count(*) filter (where lifecycle.is_churned_in_month) as churned_in_month
    from lifecycle
    group by lifecycle.month_start

),

compared as (

    select
        months.month_start,
        coalesce(rm_totals.contribution, 0) as rm_contribution,
        coalesce(contribution_totals.contribution, 0) as contribution,
        coalesce(rm_totals.contribution_trailing_12m, 0) as rm_contribution_trailing_12m,
        coalesce(contribution_totals.contribution_trailing_12m, 0) as contribution_trailing_12m,
        coalesce(rm_totals.key_accounts, 0) as rm_key_accounts,
        coalesce(key_account_totals.key_accounts, 0) as key_accounts,
        coalesce(rm_totals.potential_key_accounts, 0) as rm_potential_key_accounts,
        coalesce(key_account_totals.potential_key_accounts, 0) as potential_key_accounts,
        coalesce(rm_totals.complaints, 0) as rm_complaints,
        coalesce(complaint_totals.complaints, 0) as complaints,
        coalesce(rm_totals.sla_breaches, 0) as rm_sla_breaches,
        coalesce(complaint_totals.sla_breaches, 0) as sla_breaches,
        coalesce(rm_totals.active_at_start, 0) as rm_active_at_start,
        coalesce(lifecycle_totals.active_at_start, 0) as active_at_start,
        coalesce(rm_totals.churned_in_month, 0) as rm_churned_in_month,
        coalesce(lifecycle_totals.churned_in_month, 0) as churned_in_month
    from months
    left join rm_totals
        on months.month_start = rm_totals.month_start
    left join contribution_totals
        on months.month_start = contribution_totals.month_start
    left join key_account_totals
        on months.month_start = key_account_totals.month_start
    left join complaint_totals
        on months.month_start = complaint_totals.month_start
    left join lifecycle_totals
        on months.month_start = lifecycle_totals.month_start

)

select * from compared
where
    rm_contribution != contribution
    or rm_contribution_trailing_12m != contribution_trailing_12m
    or rm_key_accounts != key_accounts
    or rm_potential_key_accounts != potential_key_accounts
    or rm_complaints != complaints
    or rm_sla_breaches != sla_breaches
    or rm_active_at_start != active_at_start
    or rm_churned_in_month != churned_in_month
