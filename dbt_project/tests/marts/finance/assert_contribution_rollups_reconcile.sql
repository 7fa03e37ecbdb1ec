-- Returns the months where the customer contribution does not add up to the
-- same total, component by component, in every roll-up (product, branch,
-- relationship manager, segment); a reconciled warehouse returns nothing.
with

customer_totals as (

    select
        month_start,
        sum(net_interest_income) as net_interest_income,
        sum(fee_income) as fee_income,
        sum(operating_cost) as operating_cost,
        sum(expected_credit_loss) as expected_credit_loss,
        sum(contribution) as contribution
    from {{ ref('fct_customer_contribution_monthly') }}
    group by month_start

),

rollups as (

    {% for rollup in ['product', 'branch', 'rm', 'segment'] %}
        select
            '{{ rollup }}' as rollup_name,
            month_start,
            sum(net_interest_income) as net_interest_income,
            sum(fee_income) as fee_income,
            sum(operating_cost) as operating_cost,
            sum(expected_credit_loss) as expected_credit_loss,
            sum(contribution) as contribution
        from {{ ref('fct_contribution_by_' ~ rollup ~ '_monthly') }}
        group by month_start
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select
    rollups.rollup_name,
    rollups.month_start,
    customer_totals.contribution as customer_contribution,
    rollups.contribution as rollup_contribution
from rollups
full outer join customer_totals
    on rollups.month_start = customer_totals.month_start
where
    customer_totals.month_start is null
    or rollups.month_start is null
    or rollups.net_interest_income != customer_totals.net_interest_income
    or rollups.fee_income != customer_totals.fee_income
    or rollups.operating_cost != customer_totals.operating_cost
    or rollups.expected_credit_loss != customer_totals.expected_credit_loss
    or rollups.contribution != customer_totals.contribution
