{#-
    Every version of every core banking transaction landed in raw, cleaned
    (codes and categories normalised, blanks to null, contract types), with
    the raw lineage columns kept under their raw names so the latest version
    can be picked downstream. Two readers: stg_core_banking__transactions
    (the latest version of each transaction) and the incremental
    fct_transactions, which reads only the batches it has not seen: a filter
    on `_batch_id` reaches the raw table through this view.
-#}
with

source as (

    select * from {{ source_or_empty('core_banking', 'transactions') }}

),

cleaned as (

    select
        ---------- ids
        txn_id::bigint as txn_id,
        account_id::bigint as account_id,

        ---------- attributes
        lower(nullif(trim(channel), '')) as channel,
        lower(nullif(trim(txn_type), '')) as txn_type,
        upper(nullif(trim(direction), '')) as direction,
        nullif(trim(counterparty_bank), '') as counterparty_bank,
        nullif(trim(counterparty_account), '') as counterparty_account,

        ---------- numerics
        amount::numeric(18, 2) as amount,
        fee_amount::numeric(18, 2) as fee_amount,
        balance_after::numeric(18, 2) as balance_after,

        ---------- dates and timestamps
        txn_ts::timestamptz as txn_ts,
        updated_at::timestamptz as updated_at,

        ---------- booleans
        cross_border::boolean as cross_border,

        ---------- lineage
        _batch_id::bigint as _batch_id,
        _loaded_at::timestamptz as _loaded_at,
        _source_row::bigint as _source_row

    from source

)

select * from cleaned
