{#-
    The body of a contribution roll-up: the lines of `fct_contribution_lines`
    summed per closed month and `dimension` (a column of the lines), one
    column per component, the contribution, the number of customers with a
    line, and the trailing-12-month contribution of that dimension value.
    Rows whose dimension is null (lines that belong to no product) keep
    `null_label` so every line is counted and the roll-up reconciles with
    the customer figures.

    Monthly incremental (macro monthly_incremental, trailing 12 months):
    the months rebuilt come from the lines; the trailing sum takes the
    earlier months' contribution from the roll-up table itself.
-#}
{% macro contribution_rollup(dimension, null_label) -%}
    {{- monthly_incremental_config(trailing_months=12) -}}
    {%- set months = monthly_incremental_months() -%}
with

lines as (

    select * from {{ ref('fct_contribution_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

monthly as (

    select
        coalesce(lines.{{ dimension }}, '{{ null_label }}') as {{ dimension }},
        lines.month_start,
        sum(lines.amount) filter (where lines.component = 'net_interest_income')
            as net_interest_income,
        sum(lines.amount) filter (where lines.component = 'fee_income') as fee_income,
        sum(lines.amount) filter (where lines.component = 'operating_cost') as operating_cost,
        sum(lines.amount) filter (where lines.component = 'expected_credit_loss')
            as expected_credit_loss,
        sum(lines.contribution_amount) as contribution,
        count(distinct lines.customer_id) as customers
    from lines
    group by coalesce(lines.{{ dimension }}, '{{ null_label }}'), lines.month_start

),

-- the eleven months before the months rebuilt, as the table holds them
earlier as (

    {{ monthly_incremental_held_contribution(months, dimension, 'text') }}

),

windowed as (

    select
        monthly.{{ dimension }},
        monthly.month_start,
        monthly.contribution,
        true as is_rebuilt
    from monthly

    union all

    select
        earlier.{{ dimension }},
        earlier.month_start,
        earlier.contribution,
        earlier.is_rebuilt
    from earlier

),

trailing_sums as (

    select
        windowed.{{ dimension }},
        windowed.month_start,
        windowed.is_rebuilt,
        sum(windowed.contribution) over (
            partition by windowed.{{ dimension }}
            order by windowed.month_start
            range between interval '11 months' preceding and current row
        ) as contribution_trailing_12m
    from windowed

),

final as (

    select
        monthly.{{ dimension }},
        monthly.month_start,
        coalesce(monthly.net_interest_income, 0)::numeric(18, 2) as net_interest_income,
        coalesce(monthly.fee_income, 0)::numeric(18, 2) as fee_income,
        coalesce(monthly.operating_cost, 0)::numeric(18, 2) as operating_cost,
        coalesce(monthly.expected_credit_loss, 0)::numeric(18, 2) as expected_credit_loss,
        monthly.contribution::numeric(18, 2) as contribution,
        monthly.customers::integer as customers,
        trailing_sums.contribution_trailing_12m::numeric(18, 2) as contribution_trailing_12m
    from monthly
    inner join trailing_sums
        on
            monthly.{{ dimension }} = trailing_sums.{{ dimension }}
            and monthly.month_start = trailing_sums.month_start
            and trailing_sums.is_rebuilt

)

select * from final
{%- endmacro %}
