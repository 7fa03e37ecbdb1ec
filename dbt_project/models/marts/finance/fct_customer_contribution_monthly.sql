{#-
    Customer contribution (客户贡献度) per customer and closed month, with its
    components, DESIGN.md section 4:
        contribution = net interest income + fee income
                       - operating cost - expected credit loss
    Every customer whose relationship is open during the month has a row,
    with zeros when nothing happened. The trailing-12-month contribution sums
    the month and the eleven before it (fewer at the start of the data:
    `months_in_trailing_12m` says how many); customers are ranked within the
    month by it, and their share is of the month's total.

    Monthly incremental (macro monthly_incremental), trailing window of 12
    months: a changed month rebuilds it and the eleven after it. The months
    rebuilt are computed from the contribution lines; the trailing sums take
    the earlier months' contribution from the table itself (one row per
    customer and month, unchanged since they are not rebuilt).
-#}
{{ monthly_incremental_config(trailing_months=12) }}
{%- set months = monthly_incremental_months() %}

with

owners as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

lines as (

    select * from {{ ref('fct_contribution_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

customer_months as (

    select
        owners.customer_id,
        owners.month_start
    from owners

    union

    select distinct
        lines.customer_id,
        lines.month_start
    from lines

),

components as (

    select
        lines.customer_id,
        lines.month_start,
        sum(lines.amount) filter (where lines.component = 'net_interest_income')
            as net_interest_income,
        sum(lines.amount) filter (where lines.component = 'fee_income') as fee_income,
        sum(lines.amount) filter (where lines.component = 'operating_cost') as operating_cost,
        sum(lines.amount) filter (where lines.component = 'expected_credit_loss')
            as expected_credit_loss
    from lines
    group by lines.customer_id, lines.month_start

),

monthly as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        coalesce(components.net_interest_income, 0)::numeric(18, 2) as net_interest_income,
        coalesce(components.fee_income, 0)::numeric(18, 2) as fee_income,
        coalesce(components.operating_cost, 0)::numeric(18, 2) as operating_cost,
        coalesce(components.expected_credit_loss, 0)::numeric(18, 2) as expected_credit_loss
    from customer_months
    left join components
        on
            customer_months.customer_id = components.customer_id
            and customer_months.month_start = components.month_start

),

contribution as (

    select
        monthly.*,
        (
            monthly.net_interest_income + monthly.fee_income
            - monthly.operating_cost - monthly.expected_credit_loss
        )::numeric(18, 2) as contribution
    from monthly

),

-- the eleven months before the months rebuilt, as the table holds them
earlier as (

    {{ monthly_incremental_held_contribution(months, 'customer_id', 'bigint') }}

),

windowed as (

    select
        contribution.customer_id,
        contribution.month_start,
        contribution.contribution,
        true as is_rebuilt
    from contribution

    union all

    select
        earlier.customer_id,
        earlier.month_start,
        earlier.contribution,
        earlier.is_rebuilt
    from earlier

),

trailing_sums as (

    select
        windowed.customer_id,
        windowed.month_start,
        windowed.is_rebuilt,
        sum(windowed.contribution) over (
            partition by windowed.customer_id
            order by windowed.month_start
            range between interval '11 months' preceding and current row
        ) as contribution_trailing_12m,
        count(*) over (
            partition by windowed.customer_id
            order by windowed.month_start
            range between interval '11 months' preceding and current row
        ) as months_in_trailing_12m
    from windowed

),

yearly as (

    select
        contribution.*,
        trailing_sums.contribution_trailing_12m,
        trailing_sums.months_in_trailing_12m
    from contribution
    inner join trailing_sums
        on
            contribution.customer_id = trailing_sums.customer_id
            and contribution.month_start = trailing_sums.month_start
            and trailing_sums.is_rebuilt

),

ranked as (

    select
        yearly.*,
        sum(yearly.contribution_trailing_12m) over (
            partition by yearly.month_start
        ) as month_total_trailing_12m,
        rank() over (
            partition by yearly.month_start
            order by yearly.contribution_trailing_12m desc, yearly.customer_id asc
        ) as rank_in_month
    from yearly

),

final as (

    select
        ranked.customer_id,
        ranked.month_start,
        coalesce(owners.segment, customers.customer_type) as segment,
        coalesce(owners.branch_code, customers.branch_code) as branch_code,
        coalesce(owners.rm_id, 'UNASSIGNED') as rm_id,
        ranked.net_interest_income,
        ranked.fee_income,
        ranked.operating_cost,
        ranked.expected_credit_loss,
        ranked.contribution,
        ranked.contribution_trailing_12m::numeric(18, 2) as contribution_trailing_12m,
        ranked.months_in_trailing_12m::integer as months_in_trailing_12m,
        ranked.rank_in_month::integer as rank_trailing_12m,
        (
            ranked.contribution_trailing_12m / nullif(ranked.month_total_trailing_12m, 0)
        )::numeric(12, 8) as share_trailing_12m
    from ranked
    inner join customers
        on ranked.customer_id = customers.customer_id
    left join owners
        on
            ranked.customer_id = owners.customer_id
            and ranked.month_start = owners.month_start

)

select * from final
