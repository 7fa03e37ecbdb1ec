with

source as (

    select * from {{ source_or_empty('reference', 'products') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ["upper(nullif(trim(product_code), ''))"],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        upper(nullif(trim(product_code), '')) as product_code,

        ---------- attributes
        nullif(trim(product_name), '') as product_name,
        -- `family` is a keyword in sqlfluff's list, but the contract's column name
        lower(nullif(trim(family), '')) as family,  -- noqa: RF04
        -- `category` is a keyword in sqlfluff's list, but the contract's column name
        lower(nullif(trim(category), '')) as category,  -- noqa: RF04
        term_months::integer as term_months,

        ---------- numerics
        customer_rate::numeric(8, 5) as customer_rate,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
