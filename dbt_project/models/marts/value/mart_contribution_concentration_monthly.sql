{#-
    Concentration of customer contribution per closed month (DESIGN.md
    section 4, "Pareto"), from mart_contribution_pareto: how many customers
    make `pareto_share` (default 0.8) of the positive trailing-12-month
    contribution, what share of it the top `pareto_top_customer_share`
    (default 0.2) of customers make, and the Gini coefficient.

    Gini over the n customers of the month, with x = trailing-12-month
    contribution floored at 0 and sorted ascending (i = 1..n):
        G = sum_i (2i - n - 1) * x_i / (n * sum_i x_i)
    0 = every customer contributes the same, (n - 1) / n = one customer makes
    it all; null when no customer has a positive contribution.
    Monthly incremental (macro monthly_incremental), as the Pareto mart.
-#}
{{ monthly_incremental_config(trailing_months=12) }}
{%- set months = monthly_incremental_months() %}

with

pareto as (

    select * from {{ ref('mart_contribution_pareto') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

floored as (

    select
        pareto.month_start,
        pareto.customers_in_month,
        pareto.contribution_trailing_12m,
        greatest(pareto.contribution_trailing_12m, 0) as positive_trailing_12m,
        pareto.is_in_pareto_share,
        -- ascending position for the Gini formula (ties carry equal values)
        pareto.customers_in_month - pareto.pareto_rank + 1 as ascending_position,
        pareto.pareto_rank <= ceil(
            {{ var('pareto_top_customer_share', 0.2) }} * pareto.customers_in_month
        ) as is_top_customer
    from pareto

),

monthly as (

    select
        floored.month_start,
        count(*) as customers,
        sum(floored.contribution_trailing_12m) as total_trailing_12m,
        sum(floored.positive_trailing_12m) as positive_trailing_12m,
        count(*) filter (where floored.is_in_pareto_share) as pareto_customers,
        coalesce(
            sum(floored.positive_trailing_12m) filter (where floored.is_top_customer), 0
        ) as top_customers_positive_trailing_12m,
        sum(
            (2 * floored.ascending_position - floored.customers_in_month - 1)
            * floored.positive_trailing_12m
        ) as gini_numerator
    from floored
    group by floored.month_start

),

final as (

    select
        monthly.month_start,
        monthly.customers::integer as customers,
        monthly.total_trailing_12m::numeric(18, 2) as total_trailing_12m,
        monthly.positive_trailing_12m::numeric(18, 2) as positive_trailing_12m,
        monthly.pareto_customers::integer as pareto_customers,
        (monthly.pareto_customers::numeric / monthly.customers)::numeric(12, 8)
            as pareto_customer_share,
        (
            monthly.top_customers_positive_trailing_12m
            / nullif(monthly.positive_trailing_12m, 0)
        )::numeric(12, 8) as top_customers_positive_share,
        (
            monthly.gini_numerator
            / nullif(monthly.customers * monthly.positive_trailing_12m, 0)
        )::numeric(12, 8) as gini_trailing_12m
    from monthly

)

select * from final
