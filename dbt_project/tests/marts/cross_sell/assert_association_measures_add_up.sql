{#-
    Fails for every rule of mart_product_associations whose measures do not
    follow from its counts (support = customers / basket_customers,
    confidence = customers / antecedent_customers, lift = confidence /
    (consequent_customers / basket_customers), to the rounding of the
    columns), whose counts are inconsistent (customers above the antecedent
    or consequent holders, consequent inside the antecedent), whose support
    or confidence is outside [0, 1] or below the thresholds, or whose
    basket_customers is not the month's customers holding something.
-#}
with

rules as (

    select * from {{ ref('mart_product_associations') }}

),

depth as (

    select * from {{ ref('mart_customer_product_depth_monthly') }}

),

baskets as (

    select
        depth.month_start,
        count(*) as basket_customers
    from depth
    where depth.product_depth > 0
    group by depth.month_start

)

select
    rules.month_start,
    rules.antecedent,
    rules.consequent_category,
    rules.support,
    rules.confidence,
    rules.lift
from rules
left join baskets
    on rules.month_start = baskets.month_start
where
    baskets.basket_customers is distinct from rules.basket_customers
    or abs(rules.support - rules.customers::numeric / rules.basket_customers) > 0.00000001
    or abs(rules.confidence - rules.customers::numeric / rules.antecedent_customers)
    > 0.00000001
    or abs(
        rules.lift
        - rules.customers::numeric * rules.basket_customers
        / (rules.antecedent_customers::numeric * rules.consequent_customers)
    ) > 0.000001
    or rules.customers > rules.antecedent_customers
    or rules.customers > rules.consequent_customers
    or rules.consequent_category = rules.antecedent_category
    or rules.consequent_category = rules.antecedent_category_2
    or rules.antecedent_category >= rules.antecedent_category_2
    or rules.support > 1
    or rules.confidence > 1
    or rules.support < {{ var('association_min_support', 0.01) }}
    or rules.confidence < {{ var('association_min_confidence', 0.1) }}
