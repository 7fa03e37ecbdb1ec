{#-
    Anomaly alerts, one row per account, day and rule (DESIGN.md section 4,
    "Anomalies"). Threshold rules on one side of an account's day (money in
    or money out, summed over the day, as large-value reporting counts it):

      cash          cash deposits, cash withdrawals and card cash withdrawals
                    >= anomaly_cash_daily (default 50,000)
      transfer      transfers in or out (any counterparty bank)
                    >= anomaly_transfer_daily (default 500,000)
      cross_border  anything with a counterparty abroad
                    >= anomaly_cross_border_daily (default 200,000)

    When both sides of a day reach a rule's threshold, the larger one is the
    alert's. The model-based outliers of the ML stage
    (stg_ml__current_anomaly_alerts) are added as rule 'model_outlier'.

    Incremental: a run recomputes only the account-days that hold a
    fct_transactions row from a load batch newer than the newest batch behind
    any alert held (the watermark, read once at compile time so the batch
    filter is a literal the planner can use). Before that, pre-hooks delete
    the rule alerts of those account-days (an account-day may no longer reach
    a threshold after a correction) and every model alert (the ML stage
    replaces them as a whole). Account-days are recomputed from all their
    transactions, so a daily run gives what a full refresh gives. (As in
    fct_transactions, a transaction re-delivered on another account or day
    leaves the old day's alert until the next full refresh.)
-#}
{% set watermark_sql -%}
    select coalesce(max(held.last_batch_id), 0) as watermark
    from {{ this }} as held
    where held.alert_source = 'rule'
{%- endset %}

{{
    config(
        materialized='incremental',
        unique_key='alert_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['alert_id'], 'unique': True},
            {'columns': ['account_id', 'alert_date']},
            {'columns': ['customer_id', 'month_start']},
        ],
        pre_hook=[
            "{% if is_incremental() %}
            delete from {{ this }} as held where held.alert_source = 'model'
            {% endif %}",
            "{% if is_incremental() %}
            delete from {{ this }} as held
            using (
                select distinct touched.account_id, touched.txn_date
                from {{ ref('fct_transactions') }} as touched
                where touched.batch_id > (
                    select coalesce(max(newest.last_batch_id), 0)
                    from {{ this }} as newest
                    where newest.alert_source = 'rule'
                )
            ) as touched
            where
                held.alert_source = 'rule'
                and held.account_id = touched.account_id
                and held.alert_date = touched.txn_date
            {% endif %}",
        ],
    )
}}

{%- set watermark = 0 %}
{%- if execute and is_incremental() %}
    {%- set watermark = run_query(watermark_sql).columns[0].values()[0] %}  -- noqa: TMP
{%- endif %}

with

{% if is_incremental() %}
    touched_days as (

        select distinct
            new_rows.account_id,
            new_rows.txn_date
        from {{ ref('fct_transactions') }} as new_rows
        where new_rows.batch_id > {{ watermark if watermark is number else 0 }}

    ),
{% endif %}

transactions as (

    select * from {{ ref('fct_transactions') }}

),

ml_alerts as (

    select * from {{ ref('stg_ml__current_anomaly_alerts') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

-- Only the transactions a rule can count.
rule_transactions as (

    select
        transactions.account_id,
        transactions.customer_id,
        transactions.branch_code,
        transactions.txn_date,
        transactions.direction,
        transactions.amount,
        transactions.batch_id,
        transactions.txn_type in ('cash_deposit', 'cash_withdrawal', 'card_withdrawal')
            as is_cash,
        transactions.txn_type in ('transfer_in', 'transfer_out') as is_transfer,
        coalesce(transactions.cross_border, false) as is_cross_border
    from transactions
    where
        (
            transactions.txn_type in (
                'cash_deposit', 'cash_withdrawal', 'card_withdrawal', 'transfer_in', 'transfer_out'
            )
            or transactions.cross_border
        )
        {% if is_incremental() %}
            and (transactions.account_id, transactions.txn_date) in (
                select
                    touched_days.account_id,
                    touched_days.txn_date
                from touched_days
            )
        {% endif %}

),

-- One row per account and day: each rule's total and count on each side.
daily as (

    select
        account_id,
        txn_date,
        customer_id,
        branch_code,
        max(batch_id) as last_batch_id,
        sum(amount) filter (where is_cash and direction = 'C') as cash_in,
        count(*) filter (where is_cash and direction = 'C') as cash_in_count,
        sum(amount) filter (where is_cash and direction = 'D') as cash_out,
        count(*) filter (where is_cash and direction = 'D') as cash_out_count,
        sum(amount) filter (where is_transfer and direction = 'C') as transfer_in,
        count(*) filter (where is_transfer and direction = 'C') as transfer_in_count,
        sum(amount) filter (where is_transfer and direction = 'D') as transfer_out,
        count(*) filter (where is_transfer and direction = 'D') as transfer_out_count,
        sum(amount) filter (where is_cross_border and direction = 'C') as cross_border_in,
        count(*) filter (where is_cross_border and direction = 'C') as cross_border_in_count,
        sum(amount) filter (where is_cross_border and direction = 'D') as cross_border_out,
        count(*) filter (where is_cross_border and direction = 'D') as cross_border_out_count
    from rule_transactions
    group by
        account_id,
        txn_date,
        customer_id,
        branch_code

),

-- Each side of each rule that reaches its threshold.
breaches as (

    select
        daily.account_id,
        daily.txn_date,
        daily.customer_id,
        daily.branch_code,
        daily.last_batch_id,
        sides.rule_name,
        sides.side,
        sides.side_amount,
        sides.side_count,
        sides.threshold
    from daily
    cross join
        lateral unnest(
            array['cash', 'cash', 'transfer', 'transfer', 'cross_border', 'cross_border'],
            array['C', 'D', 'C', 'D', 'C', 'D'],
            array[
                daily.cash_in, daily.cash_out,
                daily.transfer_in, daily.transfer_out,
                daily.cross_border_in, daily.cross_border_out
            ],
            array[
                daily.cash_in_count, daily.cash_out_count,
                daily.transfer_in_count, daily.transfer_out_count,
                daily.cross_border_in_count, daily.cross_border_out_count
            ],
            array[
                {{ var('anomaly_cash_daily') }}, {{ var('anomaly_cash_daily') }},
                {{ var('anomaly_transfer_daily') }}, {{ var('anomaly_transfer_daily') }},
                {{ var('anomaly_cross_border_daily') }}, {{ var('anomaly_cross_border_daily') }}
            ]::numeric[]
        ) as sides (rule_name, side, side_amount, side_count, threshold)
    where sides.side_amount >= sides.threshold

),

-- The larger side when both reach the threshold (money out on a tie).
rule_alerts as (

    select
        *,
        row_number() over (
            partition by account_id, txn_date, rule_name
            order by side_amount desc, side desc
        ) as side_rank
    from breaches

),

rule_rows as (

    select
        rule_alerts.account_id,
        rule_alerts.customer_id,
        rule_alerts.branch_code,
        rule_alerts.txn_date as alert_date,
        rule_alerts.rule_name,
        'rule' as alert_source,
        rule_alerts.side as direction,
        rule_alerts.side_amount as amount,
        rule_alerts.side_count as txn_count,
        rule_alerts.threshold,
        null::double precision as anomaly_score,
        concat(
            case rule_alerts.rule_name
                when 'cash'
                    then
                        case rule_alerts.side
                            when 'C' then 'cash deposits' else 'cash withdrawals'
                        end
                when 'transfer'
                    then
                        case rule_alerts.side
                            when 'C' then 'transfers in' else 'transfers out'
                        end
                else
                    case rule_alerts.side
                        when 'C' then 'cross-border receipts' else 'cross-border payments'
                    end
            end,
            ' ', to_char(rule_alerts.side_amount, 'FM999,999,999,999,990.00'), ' CNY',
            ' in ', rule_alerts.side_count,
            case when rule_alerts.side_count = 1 then ' transaction' else ' transactions' end,
            ' on ', to_char(rule_alerts.txn_date, 'YYYY-MM-DD'),
            ' >= ', to_char(rule_alerts.threshold, 'FM999,999,999,999,990')
        ) as reason,
        rule_alerts.last_batch_id,
        null::bigint as model_run_id
    from rule_alerts
    where rule_alerts.side_rank = 1

),

model_rows as (

    select
        ml_alerts.account_id,
        coalesce(ml_alerts.customer_id, accounts.customer_id) as customer_id,
        accounts.branch_code,
        ml_alerts.alert_date,
        'model_outlier' as rule_name,
        'model' as alert_source,
        null::text as direction,
        null::numeric as amount,
        null::bigint as txn_count,
        null::numeric as threshold,
        ml_alerts.anomaly_score,
        coalesce(
            ml_alerts.reason,
            'model outlier (score ' || round(ml_alerts.anomaly_score::numeric, 3) || ')'
        ) as reason,
        null::bigint as last_batch_id,
        ml_alerts.model_run_id
    from ml_alerts
    left join accounts
        on ml_alerts.account_id = accounts.account_id

),

unioned as (

    select * from rule_rows

    union all

    select * from model_rows

),

final as (

    select
        md5(
            unioned.account_id::text || '|' || unioned.alert_date::text || '|' || unioned.rule_name
        ) as alert_id,
        unioned.account_id,
        unioned.customer_id,
        unioned.branch_code,
        unioned.alert_date,
        date_trunc('month', unioned.alert_date)::date as month_start,
        unioned.rule_name as rule,  -- noqa: RF04
        unioned.alert_source,
        unioned.direction,
        unioned.amount::numeric(18, 2) as amount,
        unioned.txn_count::integer as txn_count,
        unioned.threshold::numeric(18, 2) as threshold,
        unioned.anomaly_score,
        unioned.reason,
        unioned.last_batch_id,
        unioned.model_run_id
    from unioned

)

select * from final
