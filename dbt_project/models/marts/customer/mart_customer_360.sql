with

customers as (

    select * from {{ ref('dim_customer_current') }}

),

-- The latest month core banking has closed: every monthly measure below is of this month.
latest_month as (

    select max(month_start) as month_start
    from {{ ref('int_finance__closed_months') }}

),

balances as (

    select * from {{ ref('mart_customer_balances') }}

),

contribution as (

    select monthly.*
    from {{ ref('fct_customer_contribution_monthly') }} as monthly
    inner join latest_month on monthly.month_start = latest_month.month_start

),

key_accounts as (

    select key_account.*
    from {{ ref('mart_key_accounts') }} as key_account
    inner join latest_month on key_account.month_start = latest_month.month_start

),

depth as (

    select product_depth.*
    from {{ ref('mart_customer_product_depth_monthly') }} as product_depth
    inner join latest_month on product_depth.month_start = latest_month.month_start

),

lifecycle as (

    select lifecycle_month.*
    from {{ ref('mart_customer_lifecycle_monthly') }} as lifecycle_month
    inner join latest_month on lifecycle_month.month_start = latest_month.month_start

),

warnings as (

    select warning.*
    from {{ ref('mart_early_warning_monthly') }} as warning
    inner join latest_month on warning.month_start = latest_month.month_start

),

next_best as (

    select * from {{ ref('mart_next_best_product') }}

),

segments as (

    select * from {{ ref('stg_ml__current_customer_segments') }}

),

ml_lifecycle as (

    select * from {{ ref('stg_ml__current_customer_lifecycle') }}

),

final as (

    select
        ---------- profile (personal data masked)
        customers.customer_id,
        customers.full_name_masked,
        customers.national_id_masked,
        customers.mobile_masked,
        customers.customer_type,
        customers.gender,
        customers.age_band,
        customers.occupation,
        customers.city,
        customers.branch_code,
        customers.rm_id,
        customers.status,
        customers.joined_on,
        customers.tenure_months,
        customers.tenure_band,

        ---------- holdings and balances
        coalesce(balances.n_accounts, 0) as n_accounts,
        coalesce(depth.product_depth, 0) as product_depth,
        depth.held_categories,
        balances.balance_month,
        coalesce(balances.deposit_balance, 0) as deposit_balance,
        coalesce(balances.loan_balance, 0) as loan_balance,
        coalesce(balances.net_balance, 0) as net_balance,
        balances.last_activity_at,

        ---------- contribution
        latest_month.month_start as contribution_month,
        contribution.net_interest_income,
        contribution.fee_income,
        contribution.operating_cost,
        contribution.expected_credit_loss,
        contribution.contribution,
        contribution.contribution_trailing_12m,
        contribution.rank_trailing_12m,
        contribution.share_trailing_12m,
        coalesce(key_accounts.is_key_account, false) as is_key_account,
        coalesce(key_accounts.is_potential_key_account, false) as is_potential_key_account,
        key_accounts.potential_reason,

        ---------- segment and lifecycle
        segments.segment_name,
        segments.as_of_month as segment_as_of_month,
        lifecycle.lifecycle_stage,
        lifecycle.previous_stage as previous_lifecycle_stage,
        ml_lifecycle.churn_probability,
        ml_lifecycle.probability_alive,
        ml_lifecycle.as_of_month as churn_scored_month,

        ---------- early warning
        warnings.tier as warning_tier,
        warnings.reason_codes as warning_reasons,
        warnings.previous_tier as previous_warning_tier,

        ---------- cross-sell
        next_best.next_best_category,
        next_best.ml_next_best_product,
        next_best.wealth_propensity

    from customers
    cross join latest_month
    left join balances on customers.customer_id = balances.customer_id
    left join contribution on customers.customer_id = contribution.customer_id
    left join key_accounts on customers.customer_id = key_accounts.customer_id
    left join depth on customers.customer_id = depth.customer_id
    left join lifecycle on customers.customer_id = lifecycle.customer_id
    left join warnings on customers.customer_id = warnings.customer_id
    left join next_best on customers.customer_id = next_best.customer_id
    left join segments on customers.customer_id = segments.customer_id
    left join ml_lifecycle on customers.customer_id = ml_lifecycle.customer_id

)

select * from final
