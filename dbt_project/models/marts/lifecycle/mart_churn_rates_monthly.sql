{#-
    Monthly churn rate (DESIGN.md section 4): customers churned in the month
    / customers active at its start, overall and by dimension:
      bank     one row per month, dimension_value 'all'
      segment  the customer's segment in the month
      branch   the customer's home branch in the month
      rm       the relationship manager at the month's end ('UNASSIGNED')
      product  each product category the customer held at the month's start
               (core banking accounts open at the previous month's end; a
               customer counts once under every category it held)
    Active at start: not prospect and not churned at the previous month's
    end (something open). Churned counts only customers active at the start
    (a customer opening and closing within one month is not in the rate), so
    the rate is between 0 and 1; it is null where nobody was active.
    Monthly incremental (macro monthly_incremental): rebuilds the months
    mart_customer_lifecycle_monthly rebuilds (a changed month and every
    month after it).
-#}
{{ monthly_incremental_config(trailing_months=1200) }}
{%- set months = monthly_incremental_months() %}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

products as (

    select * from {{ ref('int_reference__products') }}

),

account_periods as (

    select
        accounts.customer_id,
        accounts.product_code,
        accounts.opened_on,
        coalesce(
            accounts.closed_on,
            case when accounts.status = 'closed' then accounts.updated_at::date end
        ) as closed_on
    from accounts
    where accounts.customer_id is not null and accounts.opened_on is not null

),

held_at_start as (

    select distinct
        lifecycle.customer_id,
        lifecycle.month_start,
        coalesce(products.category, 'unknown') as product_category
    from lifecycle
    inner join account_periods
        on
            lifecycle.customer_id = account_periods.customer_id
            and lifecycle.month_start > account_periods.opened_on
            and (
                account_periods.closed_on is null
                or lifecycle.month_start <= account_periods.closed_on
            )
    left join products
        on account_periods.product_code = products.product_code
    where lifecycle.is_active_at_start

),

members as (

    select
        lifecycle.month_start,
        'bank' as dimension,
        'all' as dimension_value,
        lifecycle.is_active_at_start,
        lifecycle.is_active_at_start and lifecycle.is_churned_in_month as is_churned
    from lifecycle

    union all

    select
        lifecycle.month_start,
        'segment' as dimension,
        coalesce(lifecycle.segment, 'unknown') as dimension_value,
        lifecycle.is_active_at_start,
        lifecycle.is_active_at_start and lifecycle.is_churned_in_month as is_churned
    from lifecycle
    where lifecycle.is_active_at_start

    union all

    select
        lifecycle.month_start,
        'branch' as dimension,
        coalesce(lifecycle.branch_code, 'unknown') as dimension_value,
        lifecycle.is_active_at_start,
        lifecycle.is_active_at_start and lifecycle.is_churned_in_month as is_churned
    from lifecycle
    where lifecycle.is_active_at_start

    union all

    select
        lifecycle.month_start,
        'rm' as dimension,
        lifecycle.rm_id as dimension_value,
        lifecycle.is_active_at_start,
        lifecycle.is_active_at_start and lifecycle.is_churned_in_month as is_churned
    from lifecycle
    where lifecycle.is_active_at_start

    union all

    select
        lifecycle.month_start,
        'product' as dimension,
        held_at_start.product_category as dimension_value,
        lifecycle.is_active_at_start,
        lifecycle.is_churned_in_month as is_churned
    from lifecycle
    inner join held_at_start
        on
            lifecycle.customer_id = held_at_start.customer_id
            and lifecycle.month_start = held_at_start.month_start

),

counted as (

    select
        members.month_start,
        members.dimension,
        members.dimension_value,
        count(*) filter (where members.is_active_at_start) as active_at_start,
        count(*) filter (where members.is_churned) as churned
    from members
    group by members.month_start, members.dimension, members.dimension_value

),

final as (

    select
        counted.month_start::date as month_start,
        counted.dimension::text as dimension,
        counted.dimension_value::text as dimension_value,
        counted.active_at_start::integer as active_at_start,
        counted.churned::integer as churned,
        round(
            counted.churned::numeric / nullif(counted.active_at_start, 0), 6
        )::numeric(9, 6) as churn_rate
    from counted

)

select * from final
