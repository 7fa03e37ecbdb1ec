{#-
    The body of a contribution roll-up: the lines of `fct_contribution_lines`
    summed per closed month and `dimension` (a column of the lines), one
    column per component, the contribution, the number of customers with a
    line, and the trailing-12-month contribution of that dimension value.
    Rows whose dimension is null (lines that belong to no product) keep
    `null_label` so every line is counted and the roll-up reconciles with
    the customer figures.
-#}
{% macro contribution_rollup(dimension, null_label) -%}
with

lines as (

    select * from {{ ref('fct_contribution_lines') }}

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
        sum(monthly.contribution) over (
            partition by monthly.{{ dimension }}
            order by monthly.month_start
            range between interval '11 months' preceding and current row
        )::numeric(18, 2) as contribution_trailing_12m
    from monthly

)

select * from final
{%- endmacro %}
