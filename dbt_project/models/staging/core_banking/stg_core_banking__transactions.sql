with

versions as (

    select * from {{ ref('base_core_banking__transactions') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['txn_id']) }} as version_rank
    from versions

),

renamed as (

    select
        txn_id,
        account_id,
        channel,
        txn_type,
        direction,
        counterparty_bank,
        counterparty_account,
        amount,
        fee_amount,
        balance_after,
        txn_ts,
        updated_at,
        cross_border,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from latest_versions
    where version_rank = 1

)

select * from renamed
