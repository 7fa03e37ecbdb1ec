{#-
    Association rules between product categories per closed month (market
    basket analysis over customers' holdings at month end). The baskets are
    the customers holding at least one category (product_depth > 0 in
    mart_customer_product_depth_monthly); N = their number in the month.
    Rules are single item -> item (A -> C) and pair -> item ({A, B} -> C,
    A < B alphabetically, C neither), with
        customers             = baskets holding the antecedent and C
        support               = customers / N
        confidence            = customers / baskets holding the antecedent
        lift                  = confidence / (baskets holding C / N)
    kept when support >= var `association_min_support` (default 0.01) and
    confidence >= var `association_min_confidence` (default 0.1).
    The matrix is read once and grouped into distinct baskets with their
    customer counts (at most 2^10 per month), so every itemset count below
    works on that small table, not on customers. Monthly incremental (macro
    monthly_incremental): a run rebuilds the months whose inputs changed.
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}
with

depth as (

    select * from {{ ref('mart_customer_product_depth_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

baskets as (

    select
        depth.month_start,
        depth.held_categories,
        count(*) as customers
    from depth
    where depth.product_depth > 0
    group by depth.month_start, depth.held_categories

),

month_totals as (

    select
        baskets.month_start,
        sum(baskets.customers) as basket_customers
    from baskets
    group by baskets.month_start

),

basket_items as (

    select
        baskets.month_start,
        baskets.held_categories,
        baskets.customers,
        item.category
    from baskets
    cross join lateral unnest(string_to_array(baskets.held_categories, ',')) as item (category)

),

item_counts as (

    select
        basket_items.month_start,
        basket_items.category,
        sum(basket_items.customers) as customers
    from basket_items
    group by basket_items.month_start, basket_items.category

),

-- Ordered pairs (A, C), A != C, held together.
pair_counts as (

    select
        antecedent.month_start,
        antecedent.category as antecedent_category,
        consequent.category as consequent_category,
        sum(antecedent.customers) as customers
    from basket_items as antecedent
    inner join basket_items as consequent
        on
            antecedent.month_start = consequent.month_start
            and antecedent.held_categories = consequent.held_categories
            and antecedent.category != consequent.category
    group by antecedent.month_start, antecedent.category, consequent.category

),

-- Triples ({A, B}, C), A < B, C neither, held together.
triple_counts as (

    select
        first_item.month_start,
        first_item.category as antecedent_category,
        second_item.category as antecedent_category_2,
        consequent.category as consequent_category,
        sum(first_item.customers) as customers
    from basket_items as first_item
    inner join basket_items as second_item
        on
            first_item.month_start = second_item.month_start
            and first_item.held_categories = second_item.held_categories
            and first_item.category < second_item.category
    inner join basket_items as consequent
        on
            first_item.month_start = consequent.month_start
            and first_item.held_categories = consequent.held_categories
            and first_item.category != consequent.category
            and second_item.category != consequent.category
    group by
        first_item.month_start,
        first_item.category,
        second_item.category,
        consequent.category

),

single_rules as (

    select
        pair_counts.month_start,
        pair_counts.antecedent_category,
        null::text as antecedent_category_2,
        pair_counts.consequent_category,
        pair_counts.customers,
        antecedent_counts.customers as antecedent_customers
    from pair_counts
    inner join item_counts as antecedent_counts
        on
            pair_counts.month_start = antecedent_counts.month_start
            and pair_counts.antecedent_category = antecedent_counts.category

),

pair_rules as (

    select
        triple_counts.month_start,
        triple_counts.antecedent_category,
        triple_counts.antecedent_category_2,
        triple_counts.consequent_category,
        triple_counts.customers,
        antecedent_counts.customers as antecedent_customers
    from triple_counts
    inner join pair_counts as antecedent_counts
        on
            triple_counts.month_start = antecedent_counts.month_start
            and triple_counts.antecedent_category = antecedent_counts.antecedent_category
            and triple_counts.antecedent_category_2 = antecedent_counts.consequent_category

),

rules as (

    select * from single_rules
    union all
    select * from pair_rules

),

measured as (

    select
        rules.month_start,
        rules.antecedent_category,
        rules.antecedent_category_2,
        rules.consequent_category,
        rules.customers,
        rules.antecedent_customers,
        consequent_counts.customers as consequent_customers,
        month_totals.basket_customers,
        rules.customers::numeric / month_totals.basket_customers as support,  -- noqa: RF04
        rules.customers::numeric / rules.antecedent_customers as confidence,
        (rules.customers::numeric / rules.antecedent_customers)
        / (consequent_counts.customers::numeric / month_totals.basket_customers) as lift
    from rules
    inner join item_counts as consequent_counts
        on
            rules.month_start = consequent_counts.month_start
            and rules.consequent_category = consequent_counts.category
    inner join month_totals
        on rules.month_start = month_totals.month_start

),

final as (

    select
        measured.month_start,
        measured.antecedent_category
        || coalesce('+' || measured.antecedent_category_2, '') as antecedent,
        measured.antecedent_category,
        measured.antecedent_category_2,
        case when measured.antecedent_category_2 is null then 1 else 2 end as antecedent_size,
        measured.consequent_category,
        measured.customers::integer as customers,
        measured.antecedent_customers::integer as antecedent_customers,
        measured.consequent_customers::integer as consequent_customers,
        measured.basket_customers::integer as basket_customers,
        measured.support::numeric(12, 8) as support,  -- noqa: RF04
        measured.confidence::numeric(12, 8) as confidence,
        measured.lift::numeric(14, 6) as lift
    from measured
    where
        measured.support >= {{ var('association_min_support', 0.01) }}
        and measured.confidence >= {{ var('association_min_confidence', 0.1) }}

)

select * from final
