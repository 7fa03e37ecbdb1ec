{#-
    Fails for every share in the value marts outside [0, 1] (nulls pass:
    a share is null when its denominator is 0).
-#}
with

pareto as (

    select * from {{ ref('mart_contribution_pareto') }}

),

concentration as (

    select * from {{ ref('mart_contribution_concentration_monthly') }}

),

key_accounts as (

    select * from {{ ref('mart_key_accounts') }}

),

shares as (

    select
        'mart_contribution_pareto.cumulative_customer_share' as share_name,
        pareto.month_start,
        pareto.cumulative_customer_share as share_value
    from pareto

    union all

    select
        'mart_contribution_pareto.cumulative_positive_share' as share_name,
        pareto.month_start,
        pareto.cumulative_positive_share as share_value
    from pareto

    union all

    select
        'mart_contribution_concentration_monthly.pareto_customer_share' as share_name,
        concentration.month_start,
        concentration.pareto_customer_share as share_value
    from concentration

    union all

    select
        'mart_contribution_concentration_monthly.top_customers_positive_share' as share_name,
        concentration.month_start,
        concentration.top_customers_positive_share as share_value
    from concentration

    union all

    select
        'mart_contribution_concentration_monthly.gini_trailing_12m' as share_name,
        concentration.month_start,
        concentration.gini_trailing_12m as share_value
    from concentration

    union all

    select
        'mart_key_accounts.cumulative_positive_share' as share_name,
        key_accounts.month_start,
        key_accounts.cumulative_positive_share as share_value
    from key_accounts

)

select
    shares.share_name,
    shares.month_start,
    shares.share_value
from shares
where shares.share_value < 0 or shares.share_value > 1
