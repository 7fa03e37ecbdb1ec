{#-
    The period the warehouse covers, as one row: from the first month of any
    activity to the end of the month of the latest data. When staging is empty
    (before the first load) the project vars `calendar_start` and
    `calendar_end` are used instead.
-#}
with

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

balances as (

    select * from {{ ref('stg_core_banking__balances') }}

),

-- Dates are taken in UTC, like every timestamp the sources deliver.
activity as (

    select
        min(customers.joined_on) as first_activity_day,
        (max(customers.updated_at) at time zone 'UTC')::date as last_activity_day
    from customers

    union all

    select
        min(accounts.opened_on) as first_activity_day,
        (max(accounts.updated_at) at time zone 'UTC')::date as last_activity_day
    from accounts

    union all

    select
        min(balances.balance_month) as first_activity_day,
        max(balances.balance_month) as last_activity_day
    from balances

),

observed as (

    select
        min(activity.first_activity_day) as first_activity_day,
        max(activity.last_activity_day) as last_activity_day
    from activity

),

bounds as (

    select
        date_trunc(
            'month',
            coalesce(
                observed.first_activity_day,
                '{{ var("calendar_start", "2020-01-01") }}'::date
            )
        )::date as first_day,

        coalesce(
            observed.last_activity_day,
            '{{ var("calendar_end", "2020-12-31") }}'::date
        ) as as_of_date,

        case
            when observed.first_activity_day is null then 'var' else 'data'
        end as bounds_source

    from observed

),

final as (

    select
        bounds.first_day,
        bounds.as_of_date,
        (date_trunc('month', bounds.as_of_date) + interval '1 month - 1 day')::date as last_day,
        bounds.bounds_source
    from bounds

)

select * from final
