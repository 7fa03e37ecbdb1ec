{#-
    Activity unit costs: the bank's delivered row wins for its activity; the
    seed `ref_unit_costs` adds the activities the bank does not deliver.
-#}
with

delivered as (

    select * from {{ ref('stg_reference__unit_costs') }}

),

defaults as (

    select * from {{ ref('ref_unit_costs') }}

),

delivered_costs as (

    select
        delivered.activity,
        delivered.unit_cost::numeric(10, 4) as unit_cost,
        delivered.description,
        'delivered' as value_source
    from delivered
    where delivered.activity is not null

),

default_costs as (

    select
        lower(trim(defaults.activity)) as activity,
        defaults.unit_cost::numeric(10, 4) as unit_cost,
        defaults.description,
        'default' as value_source
    from defaults
    left join delivered_costs
        on lower(trim(defaults.activity)) = delivered_costs.activity
    where delivered_costs.activity is null

),

final as (

    select * from delivered_costs
    union all
    select * from default_costs

)

select * from final
