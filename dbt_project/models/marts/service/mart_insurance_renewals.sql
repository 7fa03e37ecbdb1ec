{#-
    Insurance renewals per month of renewal_due_on, product, home branch
    (current, dim_customer_current; 'UNKNOWN' if none) and relationship
    manager assigned on the due date ('UNASSIGNED' if none).

    A renewal occasion is a (policy, renewal_due_on) pair. The insurance
    system rolls a renewed policy forward (its latest version is 'active'
    with the next renewal_due_on and no renewed_on), so the latest version
    alone (stg_wealth__insurance_policies) loses every renewal: occasions
    are read from the version history in raw, each judged by its own latest
    version (same ranking rule as staging). Each occasion is exactly one of:
      renewed: renewed_on is on or before renewal_due_on + var
               `renewal_grace_days` (default 30);
      lapsed:  not renewed by then, and the grace period ended before the
               as-of date (a late renewal counts here);
      pending: not renewed yet, and the grace period ends on or after the
               as-of date (still open to renewal).
    As-of date (renewal_as_of): the later of the policies' latest
    updated_at (UTC) and the data's as-of date (int_reference__calendar_bounds).
    renewal_rate = renewed / (renewed + lapsed), null while all are pending.
-#}
{%- set grace_days = var('renewal_grace_days', 30) | int %}
with

-- Every version of every policy: staging keeps only the latest one.
policy_versions as (

    select * from {{ ref('base_wealth__insurance_policies') }}

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

ranked as (

    select
        policy_id,
        customer_id,
        product_code,
        renewal_due_on,
        renewed_on,
        updated_at,
        {{ latest_version_rank(['policy_id', 'renewal_due_on']) }} as version_rank
    from policy_versions
    where renewal_due_on is not null

),

as_of as (

    select
        greatest(
            (max(ranked.updated_at) at time zone 'UTC')::date,
            max(calendar.as_of_date)
        ) as renewal_as_of
    from ranked
    cross join calendar

),

classified as (

    select
        ranked.policy_id,
        ranked.customer_id,
        ranked.product_code,
        ranked.renewal_due_on,
        as_of.renewal_as_of,
        case
            when
                ranked.renewed_on is not null
                and ranked.renewed_on <= ranked.renewal_due_on + {{ grace_days }}
                then 'renewed'
            when ranked.renewal_due_on + {{ grace_days }} < as_of.renewal_as_of
                then 'lapsed'
            else 'pending'
        end as renewal_outcome
    from ranked
    cross join as_of
    where ranked.version_rank = 1

),

owned as (

    select
        date_trunc('month', classified.renewal_due_on)::date as month_start,
        classified.product_code,
        coalesce(customers.branch_code, 'UNKNOWN') as branch_code,
        coalesce(assignments.rm_id, 'UNASSIGNED') as rm_id,
        classified.renewal_outcome,
        classified.renewal_as_of
    from classified
    left join customers
        on classified.customer_id = customers.customer_id
    left join assignments
        on
            classified.customer_id = assignments.customer_id
            and classified.renewal_due_on >= assignments.valid_from
            and (
                assignments.valid_to is null
                or classified.renewal_due_on < assignments.valid_to
            )

),

counted as (

    select
        owned.month_start,
        owned.product_code,
        owned.branch_code,
        owned.rm_id,
        max(owned.renewal_as_of) as renewal_as_of,
        count(*) as policies_due,
        count(*) filter (where owned.renewal_outcome = 'renewed') as policies_renewed,
        count(*) filter (where owned.renewal_outcome = 'lapsed') as policies_lapsed,
        count(*) filter (where owned.renewal_outcome = 'pending') as policies_pending
    from owned
    group by owned.month_start, owned.product_code, owned.branch_code, owned.rm_id

),

final as (

    select
        counted.month_start,
        counted.product_code,
        counted.branch_code,
        counted.rm_id,
        counted.policies_due::integer as policies_due,
        counted.policies_renewed::integer as policies_renewed,
        counted.policies_lapsed::integer as policies_lapsed,
        counted.policies_pending::integer as policies_pending,
        (
            counted.policies_renewed::numeric
            / nullif(counted.policies_renewed + counted.policies_lapsed, 0)
        )::numeric(7, 4) as renewal_rate,
        {{ grace_days }}::integer as renewal_grace_days,
        counted.renewal_as_of
    from counted

)

select * from final
