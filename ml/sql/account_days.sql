-- One row per account and day of the as-of month (%(as_of_month)s) with transactions the
-- customer made, and the account's usual daily flows over the three months before.
with

params as (

    select
        %(as_of_month)s::date as month_start,
        (%(as_of_month)s::date + interval '1 month')::date as next_month,
        (%(as_of_month)s::date - interval '3 months')::date as history_start

),

customer_made as (

    select txns.*
    from marts.fct_transactions as txns
    cross join params
    where
        txns.txn_date >= params.history_start
        and txns.txn_date < params.next_month
        and txns.txn_type not in ('interest', 'statement_fee', 'penalty_interest')

),

days as (

    select
        customer_made.account_id,
        customer_made.txn_date,
        max(customer_made.customer_id) as customer_id,
        count(*) as txns,
        coalesce(sum(customer_made.amount) filter (where customer_made.direction = 'C'), 0)
            as credits,
        coalesce(sum(customer_made.amount) filter (where customer_made.direction = 'D'), 0)
            as debits,
        coalesce(
            sum(customer_made.amount) filter (
                where customer_made.txn_type in ('cash_withdrawal', 'cash_deposit')
            ),
            0
        ) as cash,
        coalesce(
            sum(customer_made.amount) filter (
                where customer_made.direction = 'D' and customer_made.counterparty_bank is not null
            ),
            0
        ) as out_to_other_banks,
        coalesce(
            sum(customer_made.amount) filter (where customer_made.cross_border), 0
        ) as cross_border,
        max(customer_made.amount) as largest
    from customer_made
    group by customer_made.account_id, customer_made.txn_date

),

usual as (

    select
        days.account_id,
        avg(days.credits + days.debits) as usual_daily_flow,
        count(*) as history_days
    from days
    cross join params
    where days.txn_date < params.month_start
    group by days.account_id

)

select
    days.account_id,
    days.customer_id,
    days.txn_date as alert_date,
    days.txns::float8 as txns,
    days.credits::float8 as credits,
    days.debits::float8 as debits,
    days.cash::float8 as cash,
    days.out_to_other_banks::float8 as out_to_other_banks,
    days.cross_border::float8 as cross_border,
    days.largest::float8 as largest,
    (least(days.credits, days.debits) / greatest(days.credits, days.debits, 1))::float8
        as pass_through,
    coalesce(usual.usual_daily_flow, 0)::float8 as usual_daily_flow,
    coalesce(usual.history_days, 0)::float8 as history_days
from days
cross join params
left join usual on days.account_id = usual.account_id
where days.txn_date >= params.month_start
order by days.account_id, days.txn_date
