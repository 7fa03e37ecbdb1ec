{#-
    The FTP curve for every month the warehouse needs, one row per month and
    curve term. A month's curve is, whole (all its terms):
      1. the curve the bank delivered for that month;
      2. else the latest curve the bank delivered for an earlier month
         (carried forward);
      3. else (months before the first delivered curve, or no curve delivered
         at all) the default curve of the seed `ref_ftp_curve`.
    Months run without gaps from the first month of the calendar (or of the
    delivered curve, if earlier) to the last (or the last delivered, if later).
-#}
with

delivered as (

    select * from {{ ref('stg_reference__ftp_curve') }}

),

defaults as (

    select * from {{ ref('ref_ftp_curve') }}

),

calendar as (

    select * from {{ ref('int_reference__calendar_bounds') }}

),

delivered_months as (

    select distinct delivered.curve_month
    from delivered
    where delivered.curve_month is not null

),

month_range as (

    select
        least(calendar.first_day, min(delivered_months.curve_month)) as first_month,
        greatest(
            date_trunc('month', calendar.last_day)::date, max(delivered_months.curve_month)
        ) as last_month
    from calendar
    left join delivered_months
        on true
    group by calendar.first_day, calendar.last_day

),

months as (

    select
        generate_series(
            month_range.first_month, month_range.last_month, interval '1 month'
        )::date as curve_month
    from month_range

    union

    select delivered_months.curve_month
    from delivered_months

),

-- The delivered curve each month uses: its own, else the latest earlier one.
month_sources as (

    select
        months.curve_month,
        max(delivered_months.curve_month) as source_curve_month
    from months
    left join delivered_months
        on months.curve_month >= delivered_months.curve_month
    group by months.curve_month

),

from_delivered as (

    select
        month_sources.curve_month,
        delivered.term_months,
        delivered.ftp_rate,
        'delivered' as value_source,
        month_sources.source_curve_month
    from month_sources
    inner join delivered
        on month_sources.source_curve_month = delivered.curve_month
    where delivered.term_months is not null and delivered.ftp_rate is not null

),

from_defaults as (

    select
        month_sources.curve_month,
        defaults.term_months,
        defaults.ftp_rate,
        'default' as value_source,
        null::date as source_curve_month
    from month_sources
    cross join defaults
    where month_sources.source_curve_month is null

),

unioned as (

    select * from from_delivered
    union all
    select * from from_defaults

),

final as (

    select
        unioned.curve_month,
        unioned.term_months::integer as term_months,
        unioned.ftp_rate::numeric(8, 5) as ftp_rate,
        unioned.value_source,
        unioned.source_curve_month,
        coalesce(unioned.source_curve_month < unioned.curve_month, false) as is_carried_forward
    from unioned

)

select * from final
