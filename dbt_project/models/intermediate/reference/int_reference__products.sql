{#-
    The product catalogue: the bank's delivered row wins for its product code
    (the whole row, not column by column); the seed `ref_products` adds the
    codes the bank does not deliver.
-#}
with

delivered as (

    select * from {{ ref('stg_reference__products') }}

),

defaults as (

    select * from {{ ref('ref_products') }}

),

delivered_products as (

    select
        delivered.product_code,
        delivered.product_name,
        delivered.family,
        delivered.category,
        delivered.term_months::integer as term_months,
        delivered.customer_rate::numeric(8, 5) as customer_rate,
        'delivered' as value_source
    from delivered
    where delivered.product_code is not null

),

default_products as (

    select
        upper(trim(defaults.product_code)) as product_code,
        defaults.product_name,
        lower(trim(defaults.family)) as family,  -- noqa: RF04
        lower(trim(defaults.category)) as category,
        defaults.term_months::integer as term_months,
        defaults.customer_rate::numeric(8, 5) as customer_rate,
        'default' as value_source
    from defaults
    left join delivered_products
        on upper(trim(defaults.product_code)) = delivered_products.product_code
    where delivered_products.product_code is null

),

final as (

    select * from delivered_products
    union all
    select * from default_products

)

select * from final
