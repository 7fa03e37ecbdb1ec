{#-
    Fails for every customer of mart_next_best_product whose recommendation
    is already held, is not backed by a kept rule of the same month whose
    antecedent the customer holds entirely, or is not the best such rule
    (no other applicable rule may rank above it: confidence, then lift, then
    support); and for every customer with no recommendation although an
    applicable rule exists.
-#}
with

recommendations as (

    select * from {{ ref('mart_next_best_product') }}

),

rules as (

    select * from {{ ref('mart_product_associations') }}

),

applicable as (

    select
        recommendations.customer_id,
        rules.antecedent,
        rules.consequent_category,
        rules.support,
        rules.confidence,
        rules.lift
    from recommendations
    inner join rules
        on
            recommendations.month_start = rules.month_start
            and string_to_array(rules.antecedent, '+')
            <@ string_to_array(recommendations.held_categories, ',')
            and not rules.consequent_category
            = any(string_to_array(recommendations.held_categories, ','))

),

held_already as (

    select
        recommendations.customer_id,
        'recommended category already held' as failure
    from recommendations
    where
        recommendations.next_best_category
        = any(string_to_array(recommendations.held_categories, ','))

),

unbacked as (

    select
        recommendations.customer_id,
        'no applicable rule behind the recommendation' as failure
    from recommendations
    left join applicable
        on
            recommendations.customer_id = applicable.customer_id
            and recommendations.rule_antecedent = applicable.antecedent
            and recommendations.next_best_category = applicable.consequent_category
    where recommendations.next_best_category is not null and applicable.customer_id is null

),

outranked as (

    select distinct
        recommendations.customer_id,
        'a better applicable rule exists' as failure
    from recommendations
    inner join applicable
        on recommendations.customer_id = applicable.customer_id
    where
        recommendations.next_best_category is null
        or applicable.confidence > recommendations.rule_confidence
        or (
            applicable.confidence = recommendations.rule_confidence
            and applicable.lift > recommendations.rule_lift
        )
        or (
            applicable.confidence = recommendations.rule_confidence
            and applicable.lift = recommendations.rule_lift
            and applicable.support > recommendations.rule_support
        )

)

select * from held_already
union all
select * from unbacked
union all
select * from outranked
