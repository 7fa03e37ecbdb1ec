{#-
    Complaints per month opened (UTC), category and severity: how many were
    opened, how many of them are closed or still open, resolution time of the
    closed ones and SLA breaches (fct_complaints.is_sla_breached).
-#}
with

complaints as (

    select * from {{ ref('fct_complaints') }}

),

final as (

    select
        complaints.opened_month as month_start,
        complaints.category,  -- noqa: RF04
        complaints.severity,
        count(*)::integer as complaints_opened,
        count(*) filter (where not complaints.is_open)::integer as complaints_closed,
        count(*) filter (where complaints.is_open)::integer as complaints_still_open,
        (
            percentile_cont(0.5) within group (order by complaints.resolution_hours)
        )::numeric(12, 2) as median_resolution_hours,
        avg(complaints.resolution_hours)::numeric(12, 2) as avg_resolution_hours,
        count(*) filter (where complaints.is_sla_breached)::integer as sla_breaches,
        (
            count(*) filter (where complaints.is_sla_breached)::numeric / count(*)
        )::numeric(7, 4) as sla_breach_rate
    from complaints
    group by complaints.opened_month, complaints.category, complaints.severity

)

select * from final
