with

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

balances as (

    select * from {{ ref('stg_core_banking__balances') }}

),

-- Always exactly one row: the latest month in the balances, null without balances.
latest_month as (

    select max(balance_month) as balance_month
    from balances

),

latest_balances as (

    select
        balances.account_id,
        balances.end_balance
    from balances
    inner join latest_month
        on balances.balance_month = latest_month.balance_month

),

account_totals as (

    select
        accounts.customer_id,

        count(*) filter (where accounts.is_open) as n_accounts,
        count(distinct accounts.product_code) filter (where accounts.is_open) as n_products,

        sum(latest_balances.end_balance) filter (
            where accounts.is_open and accounts.account_type != 'loan'
        ) as deposit_balance,
        sum(latest_balances.end_balance) filter (
            where accounts.is_open and accounts.account_type = 'loan'
        ) as loan_balance,

        min(accounts.opened_on) as first_opened_on,
        max(accounts.updated_at) as last_account_updated_at

    from accounts
    left join latest_balances
        on accounts.account_id = latest_balances.account_id
    group by accounts.customer_id

),

customer_balances as (

    select
        customers.customer_id,
        customers.customer_type,
        customers.branch_code,
        customers.gender,
        customers.birth_date,
        customers.joined_on,

        coalesce(account_totals.n_accounts, 0)::integer as n_accounts,
        coalesce(account_totals.n_products, 0)::integer as n_products,

        latest_month.balance_month,
        coalesce(account_totals.deposit_balance, 0)::numeric(18, 2) as deposit_balance,
        coalesce(account_totals.loan_balance, 0)::numeric(18, 2) as loan_balance,
        (
            coalesce(account_totals.deposit_balance, 0)
            - coalesce(account_totals.loan_balance, 0)
        )::numeric(18, 2) as net_balance,

        account_totals.first_opened_on,
        -- greatest() ignores nulls: customers without accounts keep their own timestamp
        greatest(
            customers.updated_at, account_totals.last_account_updated_at
        ) as last_activity_at

    from customers
    cross join latest_month
    left join account_totals
        on customers.customer_id = account_totals.customer_id

)

select * from customer_balances
