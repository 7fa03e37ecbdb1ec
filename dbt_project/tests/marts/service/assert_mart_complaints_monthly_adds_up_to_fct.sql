-- The counts of mart_complaints_monthly add up to fct_complaints, month by month:
-- opened, closed, still open and SLA breaches, and opened = closed + still open on every
-- row. Returns the months that do not add up; a consistent warehouse returns nothing.
with

mart_totals as (

    select
        month_start,
        sum(complaints_opened) as complaints_opened,
        sum(complaints_closed) as complaints_closed,
        sum(complaints_still_open) as complaints_still_open,
        sum(sla_breaches) as sla_breaches,
        count(*) filter (
            where complaints_opened != complaints_closed + complaints_still_open
        ) as rows_not_adding_up
    from {{ ref('mart_complaints_monthly') }}
    group by month_start

),

fct_totals as (

    select
        opened_month as month_start,
        count(*) as complaints_opened,
        count(*) filter (where not is_open) as complaints_closed,
        count(*) filter (where is_open) as complaints_still_open,
        count(*) filter (where is_sla_breached) as sla_breaches
    from {{ ref('fct_complaints') }}
    group by opened_month

)

select
    coalesce(mart_totals.month_start, fct_totals.month_start) as month_start,
    mart_totals.complaints_opened as mart_opened,
    fct_totals.complaints_opened as fct_opened,
    mart_totals.rows_not_adding_up
from mart_totals
full outer join fct_totals
    on mart_totals.month_start = fct_totals.month_start
where
    mart_totals.month_start is null
    or fct_totals.month_start is null
    or mart_totals.complaints_opened != fct_totals.complaints_opened
    or mart_totals.complaints_closed != fct_totals.complaints_closed
    or mart_totals.complaints_still_open != fct_totals.complaints_still_open
    or mart_totals.sla_breaches != fct_totals.sla_breaches
    or mart_totals.rows_not_adding_up > 0
