{#-
    Key accounts and potential key accounts per customer and closed month
    (DESIGN.md section 4, "Other marts").

    Key account: the customers that together make the top `key_account_share`
    (default 0.8) of the month's positive trailing-12-month contribution (the
    smallest such set, ranked as in mart_contribution_pareto).

    Potential key account: not a key account, and either
    - rising_contribution: the least-squares slope of monthly contribution
      over the last `potential_trend_months` (default 6) months, all present,
      is positive, in the top decile of the month's slopes (trend_decile = 1),
      and the trailing-12-month contribution is at least
      `potential_min_trailing_12m` (CNY); or
    - flows_exceed_balances: over the same months, average monthly credits
      (fct_transactions, direction 'C') / average deposit balance (sum of the
      customer's non-loan accounts' average balances, stg balances) is above
      `potential_flow_to_balance`, with average monthly credits of at least
      `potential_min_monthly_credits` (CNY).

    Monthly incremental (macro monthly_incremental): a month is rebuilt when
    its trailing-12-month contributions may have changed; its trend window
    reads the `potential_trend_months` months before it.
-#}
{%- set trend_months = var('potential_trend_months', 6) -%}
{%- set trend_history = (trend_months | int) - 1 -%}
{{ monthly_incremental_config(trailing_months=[12, trend_months | int] | max) }}
{%- set months = monthly_incremental_months() %}

with

pareto as (

    select * from {{ ref('mart_contribution_pareto') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

contribution as (

    select * from {{ ref('fct_customer_contribution_monthly') }}
    where {{ monthly_incremental_filter('month_start', months, history_months=trend_history) }}

),

transactions as (

    select * from {{ ref('fct_transactions') }}
    where {{ monthly_incremental_filter('month_start', months, history_months=trend_history) }}

),

balances as (

    select * from {{ ref('stg_core_banking__balances') }}
    where {{ monthly_incremental_filter('balance_month', months, history_months=trend_history) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

monthly_credits as (

    select
        transactions.customer_id,
        transactions.month_start,
        sum(transactions.amount) as credits
    from transactions
    where transactions.direction = 'C'
    group by transactions.customer_id, transactions.month_start

),

monthly_deposits as (

    select
        accounts.customer_id,
        balances.balance_month as month_start,
        sum(balances.avg_balance) as deposit_balance
    from balances
    inner join accounts
        on balances.account_id = accounts.account_id
    where accounts.account_type != 'loan'
    group by accounts.customer_id, balances.balance_month

),

customer_months as (

    select
        contribution.customer_id,
        contribution.month_start,
        contribution.contribution,
        (
            extract(year from contribution.month_start) * 12
            + extract(month from contribution.month_start)
        ) as month_index,
        coalesce(monthly_credits.credits, 0) as credits,
        coalesce(monthly_deposits.deposit_balance, 0) as deposit_balance
    from contribution
    left join monthly_credits
        on
            contribution.customer_id = monthly_credits.customer_id
            and contribution.month_start = monthly_credits.month_start
    left join monthly_deposits
        on
            contribution.customer_id = monthly_deposits.customer_id
            and contribution.month_start = monthly_deposits.month_start

),

windowed as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        regr_slope(history.contribution, history.month_index) as window_slope,
        count(*) as window_months,
        avg(history.credits) as avg_monthly_credits,
        avg(history.deposit_balance) as avg_deposit_balance
    from customer_months
    inner join customer_months as history
        on
            customer_months.customer_id = history.customer_id
            and customer_months.month_start >= history.month_start
            and history.month_start
            > customer_months.month_start - interval '{{ trend_months }} months'
    group by customer_months.customer_id, customer_months.month_start

),

trends as (

    select
        windowed.customer_id,
        windowed.month_start,
        windowed.avg_monthly_credits,
        windowed.avg_deposit_balance,
        case
            when windowed.window_months = {{ trend_months }} then windowed.window_slope
        end as contribution_slope
    from windowed

),

deciles as (

    select
        trends.*,
        case
            when trends.contribution_slope is not null
                then ntile(10) over (
                        partition by trends.month_start, trends.contribution_slope is null
                        order by trends.contribution_slope desc
                    )
        end as trend_decile,
        case
            when trends.avg_deposit_balance > 0
                then trends.avg_monthly_credits / trends.avg_deposit_balance
        end as flow_to_balance_ratio
    from trends

),

flagged as (

    select
        pareto.customer_id,
        pareto.month_start,
        pareto.segment,
        pareto.branch_code,
        pareto.rm_id,
        pareto.contribution_trailing_12m,
        pareto.pareto_rank,
        pareto.cumulative_positive_share,
        deciles.contribution_slope,
        deciles.trend_decile,
        deciles.avg_monthly_credits,
        deciles.avg_deposit_balance,
        deciles.flow_to_balance_ratio,
        coalesce(
            pareto.contribution_trailing_12m > 0
            and (
                pareto.cumulative_positive_trailing_12m
                - greatest(pareto.contribution_trailing_12m, 0)
            ) < {{ var('key_account_share', 0.8) }} * (
                sum(greatest(pareto.contribution_trailing_12m, 0)) over (
                    partition by pareto.month_start
                )
            ),
            false
        ) as is_key_account,
        coalesce(
            deciles.contribution_slope > 0
            and deciles.trend_decile = 1
            and pareto.contribution_trailing_12m
            >= {{ var('potential_min_trailing_12m', 200) }},
            false
        ) as is_rising,
        coalesce(
            deciles.flow_to_balance_ratio > {{ var('potential_flow_to_balance', 3) }}
            and deciles.avg_monthly_credits
            >= {{ var('potential_min_monthly_credits', 10000) }},
            false
        ) as is_high_flow
    from pareto
    inner join deciles
        on
            pareto.customer_id = deciles.customer_id
            and pareto.month_start = deciles.month_start

),

final as (

    select
        flagged.customer_id,
        flagged.month_start,
        flagged.segment,
        flagged.branch_code,
        flagged.rm_id,
        flagged.contribution_trailing_12m,
        flagged.pareto_rank,
        flagged.cumulative_positive_share,
        flagged.is_key_account,
        (not flagged.is_key_account and (flagged.is_rising or flagged.is_high_flow))
            as is_potential_key_account,
        case
            when flagged.is_key_account then null
            when flagged.is_rising and flagged.is_high_flow then 'both'
            when flagged.is_rising then 'rising_contribution'
            when flagged.is_high_flow then 'flows_exceed_balances'
        end as potential_reason,
        flagged.contribution_slope::numeric(18, 2) as contribution_slope,
        flagged.trend_decile::integer as trend_decile,
        flagged.avg_monthly_credits::numeric(18, 2) as avg_monthly_credits,
        flagged.avg_deposit_balance::numeric(18, 2) as avg_deposit_balance,
        flagged.flow_to_balance_ratio::numeric(18, 4) as flow_to_balance_ratio
    from flagged

)

select * from final
