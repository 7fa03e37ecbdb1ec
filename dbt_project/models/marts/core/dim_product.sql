with

products as (

    select * from {{ ref('int_reference__products') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

wealth_holdings as (

    select * from {{ ref('stg_wealth__wealth_holdings') }}

),

insurance_policies as (

    select * from {{ ref('stg_wealth__insurance_policies') }}

),

-- Every product code the bank's systems use.
seen_codes as (

    select accounts.product_code from accounts
    union
    select wealth_holdings.product_code from wealth_holdings
    union
    select insurance_policies.product_code from insurance_policies

),

catalogue as (

    select
        products.product_code,
        products.product_name,
        products.family,
        products.category,
        products.term_months,
        products.customer_rate,
        products.value_source,
        true as is_in_catalogue
    from products

),

not_in_catalogue as (

    select
        seen_codes.product_code,
        seen_codes.product_code as product_name,
        'unknown' as family,  -- noqa: RF04
        'unknown' as category,
        null::integer as term_months,
        null::numeric(8, 5) as customer_rate,
        'not_in_catalogue' as value_source,
        false as is_in_catalogue
    from seen_codes
    left join products
        on seen_codes.product_code = products.product_code
    where
        seen_codes.product_code is not null
        and products.product_code is null

),

final as (

    select * from catalogue
    union all
    select * from not_in_catalogue

)

select * from final
