{#-
    One row per complaint (its latest version), with the customer's home
    branch (current, dim_customer_current; 'UNKNOWN' if the customer is not
    there) and the relationship manager assigned on the day it was opened
    (dim_customer_rm_assignment; 'UNASSIGNED' if none), resolution time and
    the SLA breach flag. An open complaint is judged at `sla_as_of_at`: the
    end (next midnight, UTC) of the data's as-of date
    (int_reference__calendar_bounds.as_of_date), or the latest complaint
    `updated_at` if later; never the wall clock, so a rebuild over the same
    data gives the same answer.
-#}
with

complaints as (

    select * from {{ ref('stg_service__complaints') }}

),

customers as (

    select * from {{ ref('dim_customer_current') }}

),

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

),

calendar as (

    select * from {{ ref('int_reference__calendar_bounds') }}

),

-- The end of the data's as-of day (UTC), or the latest complaint update if later.
as_of as (

    select
        greatest(
            max(complaints.updated_at),
            max((calendar.as_of_date + 1)::timestamp at time zone 'UTC')
        ) as sla_as_of_at
    from complaints
    cross join calendar

),

measured as (

    select
        complaints.complaint_id,
        complaints.customer_id,
        complaints.opened_at,
        complaints.closed_at,
        complaints.category,
        complaints.severity,
        complaints.channel,
        complaints.status,
        complaints.sla_hours,
        as_of.sla_as_of_at,
        complaints.opened_at + complaints.sla_hours * interval '1 hour' as sla_due_at,
        case
            when complaints.closed_at is not null
                then
                    round(
                        (
                            extract(epoch from complaints.closed_at - complaints.opened_at)
                            / 3600.0
                        )::numeric,
                        2
                    )
        end as resolution_hours
    from complaints
    cross join as_of

),

final as (

    select
        measured.complaint_id,
        measured.customer_id,
        coalesce(customers.branch_code, 'UNKNOWN') as branch_code,
        coalesce(assignments.rm_id, 'UNASSIGNED') as rm_id,
        measured.category,  -- noqa: RF04
        measured.severity,
        measured.channel,
        measured.status,
        measured.opened_at,
        measured.closed_at,
        date_trunc('month', measured.opened_at at time zone 'UTC')::date as opened_month,
        measured.resolution_hours::numeric(12, 2) as resolution_hours,
        measured.sla_hours,
        measured.sla_due_at,
        coalesce(
            case
                when measured.closed_at is not null
                    then measured.closed_at > measured.sla_due_at
                else measured.sla_as_of_at > measured.sla_due_at
            end,
            false
        ) as is_sla_breached,
        measured.closed_at is null as is_open,
        measured.sla_as_of_at
    from measured
    left join customers
        on measured.customer_id = customers.customer_id
    left join assignments
        on
            measured.customer_id = assignments.customer_id
            and (measured.opened_at at time zone 'UTC')::date >= assignments.valid_from
            and (
                assignments.valid_to is null
                or (measured.opened_at at time zone 'UTC')::date < assignments.valid_to
            )

)

select * from final
