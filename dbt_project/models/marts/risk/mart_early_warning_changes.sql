{#-
    The early-warning tier history: one row per customer and closed month in
    which the customer's tier differs from the month before
    (mart_early_warning_monthly.tier_changed); a customer's first month
    counts when its tier is not normal (it moved up from normal). Each change
    stays in the month it happened: a later change adds a row, it never
    replaces one.

    Monthly incremental (macro monthly_incremental) with the same months as
    mart_early_warning_monthly: a month's changes depend on that month's row
    only (it carries the previous tier).
-#}
{{ monthly_incremental_config(
    trailing_months=1200,
    indexes=[{'columns': ['customer_id', 'month_start'], 'unique': True}],
) }}
{%- set months = monthly_incremental_months() %}

with

monthly as (

    select * from {{ ref('mart_early_warning_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

final as (

    select
        monthly.customer_id,
        monthly.month_start,
        monthly.segment,
        monthly.branch_code,
        monthly.rm_id,
        monthly.previous_tier as from_tier,
        monthly.tier as to_tier,
        coalesce(
            array_position(array['normal', 'watch', 'doubtful', 'exit'], monthly.previous_tier)
            - 1,
            0
        )::integer as from_tier_rank,
        monthly.tier_rank as to_tier_rank,
        case
            when
                monthly.tier_rank
                > coalesce(
                    array_position(
                        array['normal', 'watch', 'doubtful', 'exit'], monthly.previous_tier
                    )
                    - 1,
                    0
                )
                then 'up'
            else 'down'
        end as direction,
        monthly.previous_tier is null as is_first_month,
        monthly.reason_codes
    from monthly
    where monthly.tier_changed

)

select * from final
