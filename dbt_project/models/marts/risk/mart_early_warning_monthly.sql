{#-
    Early-warning tier per customer and closed month (DESIGN.md section 4),
    graded like the five-tier loan classification: normal < watch <
    doubtful < exit. Each reason reaches a tier by its measure; the row's
    tier is the worst any reason reaches, and reason_codes lists the reasons
    that reach at least watch, in a fixed order:

      days_past_due         max days past due on any loan at month end:
                            >= warning_dpd_watch / _doubtful / _exit
      loan_class            worst five-tier class of the customer's loans:
                            special_mention watch, substandard doubtful,
                            doubtful or loss exit
      balance_runoff        month-end deposits fell from the average of the
                            previous three month-ends (fewer in the customer's
                            first months) by >= warning_runoff_watch (watch) /
                            warning_runoff_doubtful (doubtful), when that
                            average is at least warning_runoff_min_balance
      outflows_other_banks  share of the month's debits that are transfers out
                            to other banks >= warning_outflow_share, counted
                            when those transfers reach
                            warning_outflow_min_amount (watch)
      complaints            complaints opened in the month
                            >= warning_complaints_watch (watch); any severe
                            (high) one (doubtful)
      inactivity            days since the last customer-initiated transaction
                            (account or card) at month end
                            >= warning_inactive_days (watch)
      churn_probability     ML churn probability scored for this very month
                            >= warning_churn_watch / warning_churn_doubtful
      anomaly_alerts        rule or model anomaly alerts in the month
                            >= warning_anomaly_alerts_watch (watch)

    The customers and months are those of int_finance__customer_months (the
    open relationships of each closed month). Each month's row is kept: the
    table is the tier history, previous_tier is the customer's tier in the
    month before.

    Monthly incremental (macro monthly_incremental): a month is rebuilt when
    its inputs changed, and so is every later month (days inactive and the
    previous tier carry forward without limit); the run reads the inputs of
    the months it rebuilds, the deposits of the three months before them, and
    the last active day and tier of the month before them from the table
    itself. A daily run that only brings data of the open month rebuilds
    nothing; the day a month closes, it builds that month. Churn
    probabilities are read when a month is (re)built: scores the ML stage
    writes later for an already built month show after a full refresh.
-#}
{%- set own_bank_list = "'" ~ var('warning_own_bank_names', ['本行']) | join("', '") ~ "'" -%}
{{ monthly_incremental_config(
    trailing_months=1200,
    indexes=[{'columns': ['customer_id', 'month_start'], 'unique': True}],
) }}
{%- set months = monthly_incremental_months() %}

with

-- The months rebuilt and, for the run-off average, the three before them.
customer_months as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months, history_months=3) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

loans as (

    select * from {{ ref('fct_loans_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

balances as (

    select * from {{ ref('fct_account_balances_monthly') }}
    where {{ monthly_incremental_filter('month_start', months, history_months=3) }}

),

debit_transactions as (

    select * from {{ ref('fct_transactions') }}
    where
        direction = 'D'
        and {{ monthly_incremental_filter('month_start', months) }}

),

initiated_transactions as (

    select * from {{ ref('fct_transactions') }}
    where
        txn_type in (
            'cash_deposit', 'cash_withdrawal', 'card_withdrawal', 'payment', 'transfer_out'
        )
        and {{ monthly_incremental_filter('month_start', months) }}

),

cards as (

    select * from {{ ref('stg_cards__cards') }}

),

card_transactions as (

    select * from {{ ref('stg_cards__card_transactions') }}
    where {{ monthly_incremental_filter("date_trunc('month', txn_ts)::date", months) }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}
    where {{ monthly_incremental_filter('opened_month', months) }}

),

lifecycle as (

    select * from {{ ref('stg_ml__current_customer_lifecycle') }}

),

alerts as (

    select * from {{ ref('fct_anomaly_alerts') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

closed_months as (

    select * from {{ ref('int_finance__closed_months') }}

),

-- The first month the data covers: inactivity counts from it at the earliest.
first_month as (

    select min(closed_months.month_start) as month_start
    from closed_months

),

-- What the table holds for the month before the first one rebuilt: the last
-- active day and the tier carry on from it.
carried as (

    {% if months %}
        select
            held.customer_id,
            held.last_active_on,
            held.tier_rank
        from {{ this }} as held
        where held.month_start = ('{{ months[0] }}'::date - interval '1 month')::date
    {% else %}
        select
            null::bigint as customer_id,
            null::date as last_active_on,
            null::integer as tier_rank
        where false
    {% endif %}

),

loan_months as (

    select
        customer_id,
        month_start,
        max(coalesce(days_past_due, 0)) as max_days_past_due,
        max(
            case five_tier_class
                when 'pass' then 0
                when 'special_mention' then 1
                when 'substandard' then 2
                when 'doubtful' then 3
                when 'loss' then 4
            end
        ) as worst_class_order
    from loans
    group by
        customer_id,
        month_start

),

deposit_months as (

    select
        customer_id,
        month_start,
        sum(coalesce(end_balance, 0)) as deposit_end_balance
    from balances
    where product_family = 'deposit'
    group by
        customer_id,
        month_start

),

-- Debits of the month and the transfers out to other banks among them.
debit_months as (

    select
        debit_transactions.customer_id,
        debit_transactions.month_start,
        sum(debit_transactions.amount) as debits_amount,
        coalesce(
            sum(debit_transactions.amount) filter (
                where
                debit_transactions.txn_type = 'transfer_out'
                and debit_transactions.counterparty_bank is not null
                and debit_transactions.counterparty_bank not in ({{ own_bank_list }})
            ),
            0
        ) as other_bank_debits_amount
    from debit_transactions
    group by
        debit_transactions.customer_id,
        debit_transactions.month_start

),

-- The last day of each month the customer did something itself: cash,
-- payments, transfers out, card use (not interest, fees, salary, standing
-- orders or money received).
activity_days as (

    select
        customer_id,
        month_start,
        max(txn_date) as last_active_on
    from initiated_transactions
    group by
        customer_id,
        month_start

    union all

    select
        cards.customer_id,
        date_trunc('month', card_transactions.txn_ts)::date as month_start,
        max(card_transactions.txn_ts::date) as last_active_on
    from card_transactions
    inner join cards
        on card_transactions.card_id = cards.card_id
    group by
        cards.customer_id,
        date_trunc('month', card_transactions.txn_ts)::date

),

activity_months as (

    select
        customer_id,
        month_start,
        max(last_active_on) as last_active_on
    from activity_days
    group by
        customer_id,
        month_start

),

complaint_months as (

    select
        customer_id,
        opened_month as month_start,
        count(*) as complaints_opened,
        count(*) filter (where severity = 'high') as severe_complaints
    from complaints
    group by
        customer_id,
        opened_month

),

alert_months as (

    select
        customer_id,
        month_start,
        count(*) as anomaly_alerts
    from alerts
    where customer_id is not null
    group by
        customer_id,
        month_start

),

-- Deposits against the previous three month-ends, over the months read.
deposits as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        coalesce(deposit_months.deposit_end_balance, 0) as deposit_end_balance,
        avg(coalesce(deposit_months.deposit_end_balance, 0)) over (
            partition by customer_months.customer_id
            order by customer_months.month_start asc
            rows between 3 preceding and 1 preceding
        ) as deposit_previous_3m_average,
        count(*) over (
            partition by customer_months.customer_id
            order by customer_months.month_start asc
            rows between 3 preceding and 1 preceding
        ) as previous_months
    from customer_months
    left join deposit_months
        on
            customer_months.customer_id = deposit_months.customer_id
            and customer_months.month_start = deposit_months.month_start

),

-- The months rebuilt, with every measure.
measured as (

    select
        customer_months.customer_id,
        customer_months.month_start,
        customer_months.month_end,
        customer_months.segment,
        customer_months.branch_code,
        customer_months.rm_id,
        coalesce(loan_months.max_days_past_due, 0) as max_days_past_due,
        loan_months.worst_class_order,
        deposits.deposit_end_balance,
        deposits.deposit_previous_3m_average,
        deposits.previous_months,
        coalesce(debit_months.debits_amount, 0) as debits_amount,
        coalesce(debit_months.other_bank_debits_amount, 0) as other_bank_debits_amount,
        coalesce(complaint_months.complaints_opened, 0) as complaints_opened,
        coalesce(complaint_months.severe_complaints, 0) as severe_complaints,
        -- the latest customer-initiated day up to this month's end
        greatest(
            max(activity_months.last_active_on) over (
                partition by customer_months.customer_id
                order by customer_months.month_start asc
                rows between unbounded preceding and current row
            ),
            carried.last_active_on
        ) as last_active_on,
        carried.tier_rank as carried_tier_rank,
        greatest(customers.joined_on, first_month.month_start) as observed_from,
        lifecycle.churn_probability,
        coalesce(alert_months.anomaly_alerts, 0) as anomaly_alerts
    from customer_months
    cross join first_month
    inner join deposits
        on
            customer_months.customer_id = deposits.customer_id
            and customer_months.month_start = deposits.month_start
    left join customers
        on customer_months.customer_id = customers.customer_id
    left join carried
        on customer_months.customer_id = carried.customer_id
    left join loan_months
        on
            customer_months.customer_id = loan_months.customer_id
            and customer_months.month_start = loan_months.month_start
    left join debit_months
        on
            customer_months.customer_id = debit_months.customer_id
            and customer_months.month_start = debit_months.month_start
    left join activity_months
        on
            customer_months.customer_id = activity_months.customer_id
            and customer_months.month_start = activity_months.month_start
    left join complaint_months
        on
            customer_months.customer_id = complaint_months.customer_id
            and customer_months.month_start = complaint_months.month_start
    left join lifecycle
        on
            customer_months.customer_id = lifecycle.customer_id
            and customer_months.month_start = lifecycle.as_of_month
    left join alert_months
        on
            customer_months.customer_id = alert_months.customer_id
            and customer_months.month_start = alert_months.month_start
    where {{ monthly_incremental_filter('customer_months.month_start', months) }}

),

shares as (

    select
        *,
        case
            when previous_months > 0 and deposit_previous_3m_average > 0
                then greatest(1 - deposit_end_balance / deposit_previous_3m_average, 0)
        end as balance_runoff_share,
        case
            when debits_amount > 0 then other_bank_debits_amount / debits_amount
        end as outflow_other_banks_share,
        -- without a customer-initiated transaction since the data begin (or
        -- the customer joined), the count runs from then
        month_end - coalesce(last_active_on, observed_from, month_end) as days_inactive
    from measured

),

-- Each reason's tier as a rank: 0 normal, 1 watch, 2 doubtful, 3 exit.
graded as (

    select
        *,
        case
            when max_days_past_due >= {{ var('warning_dpd_exit') }} then 3
            when max_days_past_due >= {{ var('warning_dpd_doubtful') }} then 2
            when max_days_past_due >= {{ var('warning_dpd_watch') }} then 1
            else 0
        end as days_past_due_rank,
        case
            when worst_class_order >= 3 then 3
            when worst_class_order = 2 then 2
            when worst_class_order = 1 then 1
            else 0
        end as loan_class_rank,
        case
            when deposit_previous_3m_average < {{ var('warning_runoff_min_balance', 5000) }}
                then 0
            when balance_runoff_share >= {{ var('warning_runoff_doubtful') }} then 2
            when balance_runoff_share >= {{ var('warning_runoff_watch') }} then 1
            else 0
        end as balance_runoff_rank,
        case
            when
                other_bank_debits_amount >= {{ var('warning_outflow_min_amount') }}
                and outflow_other_banks_share >= {{ var('warning_outflow_share') }}
                then 1
            else 0
        end as outflows_rank,
        case
            when severe_complaints >= {{ var('warning_complaints_severe_doubtful', 1) }} then 2
            when complaints_opened >= {{ var('warning_complaints_watch') }} then 1
            else 0
        end as complaints_rank,
        case
            when days_inactive >= {{ var('warning_inactive_days') }} then 1
            else 0
        end as inactivity_rank,
        case
            when churn_probability >= {{ var('warning_churn_doubtful') }} then 2
            when churn_probability >= {{ var('warning_churn_watch') }} then 1
            else 0
        end as churn_rank,
        case
            when anomaly_alerts >= {{ var('warning_anomaly_alerts_watch', 1) }} then 1
            else 0
        end as anomaly_rank
    from shares

),

tiered as (

    select
        *,
        greatest(
            days_past_due_rank,
            loan_class_rank,
            balance_runoff_rank,
            outflows_rank,
            complaints_rank,
            inactivity_rank,
            churn_rank,
            anomaly_rank
        ) as tier_rank,
        nullif(
            concat_ws(
                ',',
                case when days_past_due_rank > 0 then 'days_past_due' end,
                case when loan_class_rank > 0 then 'loan_class' end,
                case when balance_runoff_rank > 0 then 'balance_runoff' end,
                case when outflows_rank > 0 then 'outflows_other_banks' end,
                case when complaints_rank > 0 then 'complaints' end,
                case when inactivity_rank > 0 then 'inactivity' end,
                case when churn_rank > 0 then 'churn_probability' end,
                case when anomaly_rank > 0 then 'anomaly_alerts' end
            ),
            ''
        ) as reason_codes
    from graded

),

named as (

    select
        *,
        (array['normal', 'watch', 'doubtful', 'exit'])[tier_rank + 1] as tier,
        coalesce(
            lag(tier_rank) over (
                partition by customer_id
                order by month_start asc
            ),
            carried_tier_rank
        ) as previous_tier_rank
    from tiered

),

final as (

    select
        named.customer_id,
        named.month_start,
        named.month_end,
        named.segment,
        named.branch_code,
        named.rm_id,
        named.tier,
        named.tier_rank::integer as tier_rank,
        (array['normal', 'watch', 'doubtful', 'exit'])[named.previous_tier_rank + 1]
            as previous_tier,
        named.tier_rank != coalesce(named.previous_tier_rank, 0) as tier_changed,
        named.reason_codes,
        named.max_days_past_due::integer as max_days_past_due,
        (array['pass', 'special_mention', 'substandard', 'doubtful', 'loss'])[
            named.worst_class_order + 1
        ] as worst_loan_class,
        named.deposit_end_balance::numeric(18, 2) as deposit_end_balance,
        named.deposit_previous_3m_average::numeric(18, 2) as deposit_previous_3m_average,
        named.balance_runoff_share::numeric(10, 4) as balance_runoff_share,
        named.debits_amount::numeric(18, 2) as debits_amount,
        named.other_bank_debits_amount::numeric(18, 2) as other_bank_debits_amount,
        named.outflow_other_banks_share::numeric(10, 4) as outflow_other_banks_share,
        named.complaints_opened::integer as complaints_opened,
        named.severe_complaints::integer as severe_complaints,
        named.last_active_on,
        named.days_inactive::integer as days_inactive,
        named.churn_probability,
        named.anomaly_alerts::integer as anomaly_alerts
    from named

)

select * from final
