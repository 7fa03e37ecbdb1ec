{#-
    Next-best product per customer, for the latest closed month: every
    customer of that month in mart_customer_product_depth_monthly gets the
    category it does not hold yet with the best association rule of that
    month (mart_product_associations) whose antecedent it holds entirely
    (one category, or a pair). Ranking of the applicable rules: confidence
    desc, then lift desc, then support desc, then consequent and antecedent
    names asc (so the choice is deterministic). A customer with no applicable
    rule (nothing held, or holds every consequent) has null recommendation
    columns. The ML labels of #6 (stg_ml__current_customer_propensity:
    model-based next-best product and wealth propensity) are joined when they
    exist, null otherwise.
    The rules are matched to the month's distinct baskets (at most 2^10),
    not to each customer, then customers pick up their basket's choice.
-#}
with

depth as (

    select * from {{ ref('mart_customer_product_depth_monthly') }}

),

rules as (

    select * from {{ ref('mart_product_associations') }}

),

propensity as (

    select * from {{ ref('stg_ml__current_customer_propensity') }}

),

latest_month as (

    select max(depth.month_start) as month_start
    from depth

),

customers as (

    select depth.*
    from depth
    inner join latest_month
        on depth.month_start = latest_month.month_start

),

baskets as (

    select distinct
        customers.month_start,
        customers.held_categories
    from customers
    where customers.product_depth > 0

),

candidates as (

    select
        baskets.held_categories,
        rules.antecedent,
        rules.consequent_category,
        rules.support,
        rules.confidence,
        rules.lift,
        row_number() over (
            partition by baskets.held_categories
            order by
                rules.confidence desc,
                rules.lift desc,
                rules.support desc,
                rules.consequent_category asc,
                rules.antecedent asc
        ) as rule_order
    from baskets
    inner join rules
        on
            baskets.month_start = rules.month_start
            and string_to_array(rules.antecedent, '+')
            <@ string_to_array(baskets.held_categories, ',')
            and not rules.consequent_category = any(string_to_array(baskets.held_categories, ','))

),

best as (

    select * from candidates
    where rule_order = 1

),

-- One row per customer even if the ML table ever held duplicates.
ml_labels as (

    select
        propensity.customer_id,
        propensity.as_of_month,
        propensity.model_version,
        propensity.next_best_product,
        propensity.wealth_propensity,
        row_number() over (
            partition by propensity.customer_id
            order by propensity.as_of_month desc, propensity.model_run_id desc
        ) as label_order
    from propensity

),

final as (

    select
        customers.customer_id,
        customers.month_start,
        customers.product_depth,
        customers.held_categories,
        best.consequent_category as next_best_category,
        best.antecedent as rule_antecedent,
        best.support as rule_support,
        best.confidence as rule_confidence,
        best.lift as rule_lift,
        ml_labels.next_best_product as ml_next_best_product,
        ml_labels.wealth_propensity::double precision as wealth_propensity,
        ml_labels.as_of_month as ml_as_of_month,
        ml_labels.model_version as ml_model_version
    from customers
    left join best
        on customers.held_categories = best.held_categories
    left join ml_labels
        on
            customers.customer_id = ml_labels.customer_id
            and ml_labels.label_order = 1

)

select * from final
