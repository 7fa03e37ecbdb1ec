with

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

account_totals as (

    select
        customer_id,

        count(*) filter (where is_open) as n_accounts,
        count(distinct product_code) filter (where is_open) as n_products,

        sum(balance) filter (
            where is_open and product_code in ('CURRENT', 'SAVINGS', 'TERM_DEPOSIT')
        ) as deposit_balance,
        sum(balance) filter (where is_open and product_code = 'LOAN') as loan_balance,

        min(opened_on) as first_opened_on,
        max(updated_at) as last_account_updated_at

    from accounts
    group by customer_id

),

customer_balances as (

    select
        customers.customer_id,
        customers.branch_code,
        customers.gender,
        customers.birth_date,
        customers.joined_on,

        coalesce(account_totals.n_accounts, 0)::integer as n_accounts,
        coalesce(account_totals.n_products, 0)::integer as n_products,

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
    left join account_totals
        on customers.customer_id = account_totals.customer_id

)

select * from customer_balances
