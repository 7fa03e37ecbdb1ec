{#-
    Fails for every customer-month where mart_customer_product_depth_monthly
    disagrees with fct_customer_holdings_monthly: product_depth must equal
    the categories held, the number of true has_<category> flags and the
    items of held_categories; products must equal the products held. After
    an incremental build only the months it rebuilt are checked (the others
    were checked when they were built).
-#}
{%- set categories = [
    'current_account', 'savings', 'term_deposit', 'mortgage', 'consumer_loan',
    'business_loan', 'debit_card', 'credit_card', 'wealth', 'insurance'
] -%}
{%- set scope = incremental_test_scope(ref('mart_customer_product_depth_monthly')) -%}
with

depth as (

    select * from {{ ref('mart_customer_product_depth_monthly') }}
    {%- if scope %}
        where {{ scope }}
    {%- endif %}

),

holdings as (

    select * from {{ ref('fct_customer_holdings_monthly') }}
    {%- if scope %}
        where {{ scope }}
    {%- endif %}

),

held as (

    select
        holdings.customer_id,
        holdings.month_start,
        count(*) as categories_held,
        sum(holdings.products) as products_held
    from holdings
    group by holdings.customer_id, holdings.month_start

),

checked as (

    select
        depth.customer_id,
        depth.month_start,
        depth.product_depth,
        coalesce(held.categories_held, 0) as categories_held,
        coalesce(held.products_held, 0) as products_held,
        depth.products,
        (
            {%- for category in categories %}
                depth.has_{{ category }}::integer
                {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        ) as flags_set,
        cardinality(array_remove(string_to_array(depth.held_categories, ','), '')) as basket_items
    from depth
    left join held
        on
            depth.customer_id = held.customer_id
            and depth.month_start = held.month_start

)

select * from checked
where
    product_depth != categories_held
    or product_depth != flags_set
    or product_depth != basket_items
    or products != products_held
