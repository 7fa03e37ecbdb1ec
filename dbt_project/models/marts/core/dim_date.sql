with

calendar as (

    select * from {{ ref('int_reference__calendar_bounds') }}

),

days as (

    select series.day_value::date as date_day
    from calendar
    cross join lateral generate_series(
        calendar.first_day, calendar.last_day, interval '1 day'
    ) as series (day_value)

),

final as (

    select
        days.date_day,

        date_trunc('month', days.date_day)::date as month_start,
        (date_trunc('month', days.date_day) + interval '1 month - 1 day')::date as month_end,
        extract(
            day from date_trunc('month', days.date_day) + interval '1 month - 1 day'
        )::integer as days_in_month,

        extract(year from days.date_day)::integer as year,  -- noqa: RF04
        extract(quarter from days.date_day)::integer as quarter,  -- noqa: RF04
        extract(month from days.date_day)::integer as month,  -- noqa: RF04
        extract(day from days.date_day)::integer as day_of_month,
        extract(isoyear from days.date_day)::integer as iso_year,
        extract(week from days.date_day)::integer as iso_week,
        extract(isodow from days.date_day)::integer as day_of_week,

        days.date_day
        = (date_trunc('month', days.date_day) + interval '1 month - 1 day')::date as is_month_end,
        extract(isodow from days.date_day) >= 6 as is_weekend

    from days

)

select * from final
