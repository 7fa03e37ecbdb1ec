{#-
    Credit-risk parameters by five-tier loan class: the bank's delivered row
    wins for its class; the seed `ref_pd_lgd` adds the classes the bank does
    not deliver.
-#}
with

delivered as (

    select * from {{ ref('stg_reference__pd_lgd') }}

),

defaults as (

    select * from {{ ref('ref_pd_lgd') }}

),

delivered_classes as (

    select
        delivered.five_tier_class,
        delivered.pd_annual::numeric(8, 5) as pd_annual,
        delivered.lgd::numeric(8, 5) as lgd,
        'delivered' as value_source
    from delivered
    where delivered.five_tier_class is not null

),

default_classes as (

    select
        lower(trim(defaults.five_tier_class)) as five_tier_class,
        defaults.pd_annual::numeric(8, 5) as pd_annual,
        defaults.lgd::numeric(8, 5) as lgd,
        'default' as value_source
    from defaults
    left join delivered_classes
        on lower(trim(defaults.five_tier_class)) = delivered_classes.five_tier_class
    where delivered_classes.five_tier_class is null

),

final as (

    select * from delivered_classes
    union all
    select * from default_classes

)

select * from final
