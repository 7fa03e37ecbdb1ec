{#-
    Product depth and the holdings matrix per customer and closed month: one
    row for every customer-month whose relationship is open
    (int_finance__customer_months) or who holds anything at the month's end
    (fct_customer_holdings_monthly). product_depth = distinct product
    categories held (0 when nothing is held), product_families = distinct
    families, products = products of any category, held_categories = the
    categories held, sorted and comma-separated (the "basket" the
    association rules are mined from), and one boolean per catalogue
    category (the holdings matrix). Monthly incremental (macro
    monthly_incremental): a run rebuilds the months whose inputs changed.
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}
{%- set categories = [
    'current_account', 'savings', 'term_deposit', 'mortgage', 'consumer_loan',
    'business_loan', 'debit_card', 'credit_card', 'wealth', 'insurance'
] -%}
with

customer_months as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

holdings as (

    select * from {{ ref('fct_customer_holdings_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

held as (

    select
        holdings.customer_id,
        holdings.month_start,
        count(*) as product_depth,
        count(distinct holdings.product_family) as product_families,
        sum(holdings.products) as products,
        string_agg(
            holdings.product_category, ',' order by holdings.product_category asc
        ) as held_categories,
        {%- for category in categories %}
            bool_or(holdings.product_category = '{{ category }}') as has_{{ category }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from holdings
    group by holdings.customer_id, holdings.month_start

),

final as (

    select
        coalesce(held.customer_id, customer_months.customer_id) as customer_id,
        coalesce(held.month_start, customer_months.month_start) as month_start,
        coalesce(held.product_depth, 0)::integer as product_depth,
        coalesce(held.product_families, 0)::integer as product_families,
        coalesce(held.products, 0)::integer as products,
        coalesce(held.held_categories, '') as held_categories,
        {%- for category in categories %}
            coalesce(held.has_{{ category }}, false) as has_{{ category }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from held
    full outer join customer_months
        on
            held.customer_id = customer_months.customer_id
            and held.month_start = customer_months.month_start

)

select * from final
