-- The rule alerts of fct_anomaly_alerts recomputed from fct_transactions as it is now,
-- compared both ways: returns the alerts that are wrong or stale and the breaches that
-- have no alert; a consistent warehouse returns nothing.
with

alerts as (

    select * from {{ ref('fct_anomaly_alerts') }}
    where alert_source = 'rule'

),

transactions as (

    select * from {{ ref('fct_transactions') }}

),

-- Each transaction once per rule that counts it.
rule_lines as (

    select
        transactions.account_id,
        transactions.txn_date,
        transactions.direction,
        transactions.amount,
        case
            when transactions.txn_type in ('cash_deposit', 'cash_withdrawal', 'card_withdrawal')
                then 'cash'
            when transactions.txn_type in ('transfer_in', 'transfer_out')
                then 'transfer'
        end as rule_name
    from transactions

    union all

    select
        transactions.account_id,
        transactions.txn_date,
        transactions.direction,
        transactions.amount,
        'cross_border' as rule_name
    from transactions
    where transactions.cross_border

),

sides as (

    select
        account_id,
        txn_date,
        rule_name,
        direction,
        sum(amount) as side_amount,
        count(*) as side_count
    from rule_lines
    where rule_name is not null
    group by
        account_id,
        txn_date,
        rule_name,
        direction

),

breaches as (

    select
        sides.account_id,
        sides.txn_date,
        sides.rule_name,
        max(sides.side_amount) as largest_side
    from sides
    where
        sides.side_amount >= case sides.rule_name
            when 'cash' then {{ var('anomaly_cash_daily') }}
            when 'transfer' then {{ var('anomaly_transfer_daily') }}
            else {{ var('anomaly_cross_border_daily') }}
        end
    group by
        sides.account_id,
        sides.txn_date,
        sides.rule_name

),

wrong_alerts as (

    select
        alerts.alert_id,
        alerts.account_id,
        alerts.alert_date,
        alerts.rule as rule_name,
        'alert does not match the transactions' as problem
    from alerts
    left join sides
        on
            alerts.account_id = sides.account_id
            and alerts.alert_date = sides.txn_date
            and alerts.rule = sides.rule_name
            and alerts.direction = sides.direction
    left join breaches
        on
            alerts.account_id = breaches.account_id
            and alerts.alert_date = breaches.txn_date
            and alerts.rule = breaches.rule_name
    where
        sides.side_amount is null
        or breaches.largest_side is null
        or alerts.amount != sides.side_amount
        or alerts.amount != breaches.largest_side
        or alerts.txn_count != sides.side_count
        or alerts.threshold != case alerts.rule
            when 'cash' then {{ var('anomaly_cash_daily') }}
            when 'transfer' then {{ var('anomaly_transfer_daily') }}
            else {{ var('anomaly_cross_border_daily') }}
        end

),

missing_alerts as (

    select
        null::text as alert_id,
        breaches.account_id,
        breaches.txn_date as alert_date,
        breaches.rule_name,
        'breach without an alert' as problem
    from breaches
    left join alerts
        on
            breaches.account_id = alerts.account_id
            and breaches.txn_date = alerts.alert_date
            and breaches.rule_name = alerts.rule
    where alerts.alert_id is null

)

select * from wrong_alerts

union all

select * from missing_alerts
