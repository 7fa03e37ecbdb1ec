{#-
    Core banking transactions, one row per transaction in its latest
    version, with the account's customer, product and branch. Incremental:
    a run takes the transactions staging wrote since the newest batch here
    (a re-delivered transaction comes back with its new batch) and replaces
    them, so a day-by-day build and a full refresh agree.
-#}
{{
    batch_incremental_config(['txn_id'], indexes=[{'columns': ['month_start']}])
}}

with

latest as (

    select * from {{ ref('stg_core_banking__transactions') }}
    where {{ batch_incremental_newer('batch_id') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

final as (

    select
        latest.txn_id,
        latest.account_id,
        accounts.customer_id,
        accounts.product_code,
        accounts.branch_code,
        latest.txn_ts,
        latest.txn_ts::date as txn_date,
        date_trunc('month', latest.txn_ts)::date as month_start,
        latest.channel,
        latest.txn_type,
        latest.direction,
        latest.amount,
        (case when latest.direction = 'D' then -latest.amount else latest.amount end)::numeric(
            18, 2
        ) as signed_amount,
        latest.fee_amount,
        latest.balance_after,
        latest.counterparty_bank,
        latest.cross_border,
        latest.updated_at,
        latest.batch_id,
        latest.source_row
    from latest
    left join accounts
        on latest.account_id = accounts.account_id

)

select * from final
