{#-
    Relationship-manager assignment history per customer, from the CRM. Each
    row holds for the half-open period [valid_from, valid_to); an open-ended
    row (valid_to null) is the current assignment. Periods never overlap for
    a customer: when the CRM delivers overlapping assignments, the one that
    starts later (then the higher assignment_id) wins and the earlier one is
    cut at its start; an assignment left with no days is dropped.
-#}
with

assignments as (

    select * from {{ ref('stg_crm__rm_assignments') }}

),

ordered as (

    select
        assignments.assignment_id,
        assignments.customer_id,
        assignments.rm_id,
        assignments.valid_from,
        assignments.valid_to as source_valid_to,
        assignments.updated_at,
        lead(assignments.valid_from) over (
            partition by assignments.customer_id
            order by assignments.valid_from, assignments.assignment_id
        ) as next_valid_from
    from assignments
    where assignments.valid_from is not null

),

trimmed as (

    select
        ordered.assignment_id,
        ordered.customer_id,
        ordered.rm_id,
        ordered.valid_from,
        case
            when
                ordered.next_valid_from is not null
                and (
                    ordered.source_valid_to is null
                    or ordered.source_valid_to > ordered.next_valid_from
                )
                then ordered.next_valid_from
            else ordered.source_valid_to
        end as valid_to,
        ordered.source_valid_to,
        ordered.updated_at
    from ordered

),

final as (

    select
        trimmed.assignment_id,
        trimmed.customer_id,
        trimmed.rm_id,
        trimmed.valid_from,
        trimmed.valid_to,
        trimmed.source_valid_to,
        trimmed.valid_to is null as is_current,
        trimmed.updated_at
    from trimmed
    where trimmed.valid_to is null or trimmed.valid_to > trimmed.valid_from

)

select * from final
