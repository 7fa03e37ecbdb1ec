-- Every customer's balances are taken from the same month: the latest one in the balances.
-- Fails with one row per balance month found when there is more than one, or when the
-- month is not the latest in stg_core_banking__balances.

with

mart as (

    select * from {{ ref('mart_customer_balances') }}

),

balances as (

    select * from {{ ref('stg_core_banking__balances') }}

),

latest_month as (

    select max(balance_month) as balance_month
    from balances

),

mart_months as (

    select distinct mart.balance_month
    from mart

)

select mart_months.balance_month
from mart_months
cross join latest_month
where
    mart_months.balance_month is distinct from latest_month.balance_month
