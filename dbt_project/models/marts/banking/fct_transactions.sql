{#-
    Core banking transactions, one row per transaction in its latest
    version, with the account's customer, product and branch. Incremental:
    a run reads only the raw batches landed since the newest batch already
    here (through base_core_banking__transactions, where the filter reaches
    the raw table), ranks those versions together with the rows already held
    for the same transactions, and replaces them: the same rule as the
    staging model, so a day-by-day build and a full refresh agree.
-#}
{{
    config(
        materialized='incremental',
        unique_key='txn_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['txn_id'], 'unique': True},
            {'columns': ['month_start']},
        ],
    )
}}

with

new_versions as (

    select * from {{ ref('base_core_banking__transactions') }}
    {% if is_incremental() %}
        where
            _batch_id > (
                select coalesce(max(held.batch_id), 0) as newest_batch_id
                from {{ this }} as held
            )
    {% endif %}

),

candidates as (

    select
        txn_id,
        account_id,
        channel,
        txn_type,
        direction,
        counterparty_bank,
        amount,
        fee_amount,
        balance_after,
        txn_ts,
        updated_at,
        cross_border,
        _batch_id,
        _source_row
    from new_versions

    {% if is_incremental() %}
        union all

        select
            held.txn_id,
            held.account_id,
            held.channel,
            held.txn_type,
            held.direction,
            held.counterparty_bank,
            held.amount,
            held.fee_amount,
            held.balance_after,
            held.txn_ts,
            held.updated_at,
            held.cross_border,
            held.batch_id as _batch_id,
            held.source_row as _source_row
        from {{ this }} as held
        where held.txn_id in (select new_versions.txn_id from new_versions)
    {% endif %}

),

latest as (

    select
        *,
        {{ latest_version_rank(['txn_id']) }} as version_rank
    from candidates

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
        latest._batch_id as batch_id,
        latest._source_row as source_row
    from latest
    left join accounts
        on latest.account_id = accounts.account_id
    where latest.version_rank = 1

)

select * from final
