{#-
    Balances per account and month as core banking publishes them after each
    month's end: the day-weighted average balance, the month-end balance and
    the days the account was open, with the account's customer, product,
    product family and branch. Loan balances are outstanding amounts
    (positive); current accounts may be overdrawn (negative). Monthly
    incremental (macro monthly_incremental): a run rebuilds the months whose
    balances changed.
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

balances as (

    select * from {{ ref('stg_core_banking__balances') }}
    where {{ monthly_incremental_filter('balance_month', months) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

products as (

    select * from {{ ref('int_reference__products') }}

),

final as (

    select
        balances.account_id,
        balances.balance_month as month_start,
        accounts.customer_id,
        accounts.product_code,
        coalesce(products.family, 'unknown') as product_family,
        accounts.branch_code,
        balances.avg_balance,
        balances.end_balance,
        balances.days as days_open,
        balances.updated_at
    from balances
    inner join accounts
        on balances.account_id = accounts.account_id
    left join products
        on accounts.product_code = products.product_code

)

select * from final
