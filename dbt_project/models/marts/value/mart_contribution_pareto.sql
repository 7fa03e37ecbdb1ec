{#-
    Pareto view of customer contribution (DESIGN.md section 4, "Other
    marts"): per customer and closed month, the customer's place in the
    month's ranking by trailing-12-month contribution, the cumulative share of
    customers down to it, and the cumulative share of the month's POSITIVE
    trailing-12-month contribution down to it. Customers with zero or negative
    contribution rank after every positive one and add nothing to the positive
    share. A customer is inside the Pareto share when the customers ranked
    above it make less than `pareto_share` (default 0.8) of the positive
    contribution and its own contribution is positive: the smallest set of
    customers that makes at least that share.
    Monthly incremental (macro monthly_incremental): a month is rebuilt when
    its trailing-12-month contributions may have changed (a changed month
    and the eleven after it).
-#}
{{ monthly_incremental_config(trailing_months=12) }}
{%- set months = monthly_incremental_months() %}

with

contribution as (

    select * from {{ ref('fct_customer_contribution_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

ranked as (

    select
        contribution.customer_id,
        contribution.month_start,
        contribution.segment,
        contribution.branch_code,
        contribution.rm_id,
        contribution.contribution_trailing_12m,
        greatest(contribution.contribution_trailing_12m, 0) as positive_trailing_12m,
        row_number() over (
            partition by contribution.month_start
            order by contribution.contribution_trailing_12m desc, contribution.customer_id asc
        ) as pareto_rank,
        count(*) over (partition by contribution.month_start) as customers_in_month
    from contribution

),

cumulated as (

    select
        ranked.*,
        sum(ranked.positive_trailing_12m) over (
            partition by ranked.month_start
        ) as month_positive_trailing_12m,
        sum(ranked.positive_trailing_12m) over (
            partition by ranked.month_start
            order by ranked.pareto_rank asc
            rows between unbounded preceding and current row
        ) as cumulative_positive_trailing_12m
    from ranked

),

final as (

    select
        cumulated.customer_id,
        cumulated.month_start,
        cumulated.segment,
        cumulated.branch_code,
        cumulated.rm_id,
        cumulated.contribution_trailing_12m,
        cumulated.pareto_rank::integer as pareto_rank,
        cumulated.customers_in_month::integer as customers_in_month,
        (cumulated.pareto_rank::numeric / cumulated.customers_in_month)::numeric(12, 8)
            as cumulative_customer_share,
        cumulated.cumulative_positive_trailing_12m::numeric(18, 2)
            as cumulative_positive_trailing_12m,
        (
            cumulated.cumulative_positive_trailing_12m
            / nullif(cumulated.month_positive_trailing_12m, 0)
        )::numeric(12, 8) as cumulative_positive_share,
        coalesce(
            cumulated.positive_trailing_12m > 0
            and (
                cumulated.cumulative_positive_trailing_12m - cumulated.positive_trailing_12m
            ) < {{ var('pareto_share', 0.8) }} * cumulated.month_positive_trailing_12m,
            false
        ) as is_in_pareto_share
    from cumulated

)

select * from final
