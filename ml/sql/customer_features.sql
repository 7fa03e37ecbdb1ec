-- One row per customer with a lifecycle row in the as-of month (%(as_of_month)s, first
-- day of a closed month): what the marts knew at the end of that month, nothing later.
with

params as (

    select
        %(as_of_month)s::date as as_of_month,
        (%(as_of_month)s::date + interval '1 month' - interval '1 day')::date as month_end

),

lifecycle as (

    select lifecycle.*
    from marts.mart_customer_lifecycle_monthly as lifecycle
    inner join params on lifecycle.month_start = params.as_of_month

),

contribution as (

    select
        contribution.customer_id,
        contribution.contribution,
        contribution.contribution_trailing_12m
    from marts.fct_customer_contribution_monthly as contribution
    inner join params on contribution.month_start = params.as_of_month

),

holdings as (

    select held.*
    from marts.mart_customer_product_depth_monthly as held
    inner join params on held.month_start = params.as_of_month

),

balances as (

    select
        balances.customer_id,
        sum(balances.end_balance) filter (where balances.product_family = 'loan')
            as loan_balance,
        sum(balances.avg_balance) filter (where balances.product_family = 'deposit')
            as deposit_avg_balance
    from marts.fct_account_balances_monthly as balances
    inner join params on balances.month_start = params.as_of_month
    group by balances.customer_id

),

recent_activity as (

    select
        txns.customer_id,
        count(*) as txns_3m,
        sum(txns.amount) filter (where txns.direction = 'C') as credits_3m,
        sum(txns.amount) filter (where txns.direction = 'D') as debits_3m,
        avg((txns.channel in ('mobile', 'online'))::int) as digital_share_3m,
        count(distinct txns.month_start) as active_months_3m
    from marts.fct_transactions as txns
    inner join params
        on
            txns.month_start > params.as_of_month - interval '3 months'
            and txns.month_start <= params.as_of_month
    where txns.txn_type not in ('interest', 'statement_fee', 'penalty_interest')
    group by txns.customer_id

),

complaints as (

    select
        complaints.customer_id,
        count(*) as complaints_12m
    from marts.fct_complaints as complaints
    inner join params
        on
            complaints.opened_month > params.as_of_month - interval '12 months'
            and complaints.opened_month <= params.as_of_month
    group by complaints.customer_id

),

profile as (

    select
        customers.customer_id,
        customers.customer_type,
        customers.gender,
        customers.birth_date
    from marts.mart_customer_balances as customers

)

select
    lifecycle.customer_id,
    params.as_of_month,
    lifecycle.lifecycle_stage as rule_stage,
    lifecycle.segment,
    lifecycle.branch_code,
    profile.customer_type,
    profile.gender,
    extract(year from age(params.month_end, profile.birth_date))::float8 as age_years,
    lifecycle.months_since_first_product::float8 as tenure_months,
    coalesce(lifecycle.open_accounts_at_end, 0)::float8 as open_accounts,
    coalesce(holdings.product_depth, 0)::float8 as product_depth,
    coalesce(holdings.has_current_account, false) as has_current_account,
    coalesce(holdings.has_savings, false) as has_savings,
    coalesce(holdings.has_term_deposit, false) as has_term_deposit,
    coalesce(holdings.has_mortgage, false) as has_mortgage,
    coalesce(holdings.has_consumer_loan, false) as has_consumer_loan,
    coalesce(holdings.has_business_loan, false) as has_business_loan,
    coalesce(holdings.has_debit_card, false) as has_debit_card,
    coalesce(holdings.has_credit_card, false) as has_credit_card,
    coalesce(holdings.has_wealth, false) as has_wealth,
    coalesce(holdings.has_insurance, false) as has_insurance,
    coalesce(contribution.contribution, 0)::float8 as contribution,
    coalesce(contribution.contribution_trailing_12m, 0)::float8 as contribution_t12m,
    coalesce(lifecycle.deposits_month_end, 0)::float8 as deposit_balance,
    coalesce(balances.deposit_avg_balance, 0)::float8 as deposit_avg_balance,
    coalesce(lifecycle.deposits_trailing_avg, 0)::float8 as deposit_trailing_avg,
    coalesce(balances.loan_balance, 0)::float8 as loan_balance,
    coalesce(lifecycle.customer_txns, 0)::float8 as txns_month,
    coalesce(lifecycle.customer_txns_trailing_avg, 0)::float8 as txns_trailing_avg,
    coalesce(recent_activity.txns_3m, 0)::float8 as txns_3m,
    coalesce(recent_activity.credits_3m, 0)::float8 as credits_3m,
    coalesce(recent_activity.debits_3m, 0)::float8 as debits_3m,
    recent_activity.digital_share_3m::float8 as digital_share_3m,
    coalesce(recent_activity.active_months_3m, 0)::float8 as active_months_3m,
    lifecycle.days_since_last_customer_txn::float8 as days_since_last_txn,
    coalesce(complaints.complaints_12m, 0)::float8 as complaints_12m
from lifecycle
cross join params
left join contribution on lifecycle.customer_id = contribution.customer_id
left join holdings on lifecycle.customer_id = holdings.customer_id
left join balances on lifecycle.customer_id = balances.customer_id
left join recent_activity on lifecycle.customer_id = recent_activity.customer_id
left join complaints on lifecycle.customer_id = complaints.customer_id
left join profile on lifecycle.customer_id = profile.customer_id
order by lifecycle.customer_id
