{#-
    Fails for every line of mart_rm_performance_monthly with a rate outside
    [0, 1] (churn rate, cross-sell rate, share of key accounts), more churned
    than active customers, more multi-product customers than the book, more
    SLA breaches than complaints, or an AUM that is not deposits + wealth
    (nulls pass: a rate is null when its denominator is 0).
-#}
with

performance as (

    select * from {{ ref('mart_rm_performance_monthly') }}

)

select
    performance.rm_id,
    performance.month_start,
    performance.churn_rate,
    performance.cross_sell_rate,
    performance.share_of_key_accounts
from performance
where
    performance.churn_rate > 1
    or performance.cross_sell_rate > 1
    or performance.share_of_key_accounts > 1
    or performance.multi_product_customers > performance.book_customers
    or performance.sla_breaches > performance.complaints
    or performance.aum != performance.aum_deposits + performance.aum_wealth
