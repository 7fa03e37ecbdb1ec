{#-
    When `key_account_share` equals `pareto_share` (the defaults), the key
    accounts are exactly the customers inside the Pareto share: fails for
    every customer-month where the two marts disagree.
-#}
{{ config(enabled=var('key_account_share', 0.8) == var('pareto_share', 0.8)) }}

with

pareto as (

    select * from {{ ref('mart_contribution_pareto') }}

),

key_accounts as (

    select * from {{ ref('mart_key_accounts') }}

)

select
    pareto.customer_id,
    pareto.month_start,
    pareto.is_in_pareto_share,
    key_accounts.is_key_account
from pareto
full outer join key_accounts
    on
        pareto.customer_id = key_accounts.customer_id
        and pareto.month_start = key_accounts.month_start
where pareto.is_in_pareto_share is distinct from key_accounts.is_key_account
