-- Fails when mart_customer_360 loses or invents a customer, or when its monthly measures
-- are not those of its month: every current customer has one row, and contribution, key
-- accounts and warning tiers add up to the monthly marts of contribution_month.
with

customer_360 as (

    select * from {{ ref('mart_customer_360') }}

),

current_customers as (

    select customer_id from {{ ref('dim_customer_current') }}

),

latest_month as (

    select max(contribution_month) as month_start
    from customer_360

),

missing_or_extra as (

    select
        'customer ' || coalesce(current_customers.customer_id, customer_360.customer_id)
        || ' is not one-to-one with dim_customer_current' as failure
    from current_customers
    full outer join customer_360
        on current_customers.customer_id = customer_360.customer_id
    where current_customers.customer_id is null or customer_360.customer_id is null

),

mart_totals as (

    select
        coalesce(sum(customer_360.contribution), 0) as contribution,
        count(*) filter (where customer_360.is_key_account) as key_accounts,
        count(*) filter (where customer_360.warning_tier != 'normal') as flagged
    from customer_360

),

monthly_totals as (

    select
        (
            select coalesce(sum(monthly.contribution), 0) as total
            from {{ ref('fct_customer_contribution_monthly') }} as monthly
            inner join current_customers on monthly.customer_id = current_customers.customer_id
            where monthly.month_start = latest_month.month_start
        ) as contribution,
        (
            select count(*) as n_customers
            from {{ ref('mart_key_accounts') }} as key_account
            inner join current_customers
                on key_account.customer_id = current_customers.customer_id
            where key_account.month_start = latest_month.month_start and key_account.is_key_account
        ) as key_accounts,
        (
            select count(*) as n_customers
            from {{ ref('mart_early_warning_monthly') }} as warning
            inner join current_customers on warning.customer_id = current_customers.customer_id
            where warning.month_start = latest_month.month_start and warning.tier != 'normal'
        ) as flagged
    from latest_month

),

totals_differ as (

    select
        'monthly measures differ from contribution_month''s marts: 360 '
        || mart_totals.contribution || ' / ' || mart_totals.key_accounts || ' / '
        || mart_totals.flagged || ' vs ' || monthly_totals.contribution || ' / '
        || monthly_totals.key_accounts || ' / ' || monthly_totals.flagged as failure
    from mart_totals
    cross join monthly_totals
    where
        mart_totals.contribution != monthly_totals.contribution
        or mart_totals.key_accounts != monthly_totals.key_accounts
        or mart_totals.flagged != monthly_totals.flagged

)

select failure from missing_or_extra
union all
select failure from totals_differ
