with

source as (

    select * from {{ source_or_empty('cards', 'cards') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(['card_id']) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        card_id::bigint as card_id,
        customer_id::bigint as customer_id,
        account_id::bigint as account_id,

        ---------- personal data
        nullif(trim(cardholder_name), '') as cardholder_name,

        ---------- attributes
        lower(nullif(trim(card_type), '')) as card_type,
        lower(nullif(trim(card_level), '')) as card_level,
        lower(nullif(trim(status), '')) as status,

        ---------- numerics
        credit_limit::numeric(18, 2) as credit_limit,

        ---------- dates and timestamps
        issued_on::date as issued_on,
        expires_on::date as expires_on,
        updated_at::timestamptz as updated_at,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
