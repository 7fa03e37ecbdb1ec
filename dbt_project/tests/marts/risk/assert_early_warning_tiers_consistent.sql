-- mart_early_warning_monthly is self-consistent (tier and rank, reasons, previous tier,
-- change flag) and mart_early_warning_changes holds exactly its changed customer-months.
-- Returns the offending customer-months; a consistent warehouse returns nothing.
with

monthly as (

    select * from {{ ref('mart_early_warning_monthly') }}

),

changes as (

    select * from {{ ref('mart_early_warning_changes') }}

),

with_previous as (

    select
        *,
        lag(tier) over (
            partition by customer_id
            order by month_start asc
        ) as tier_before
    from monthly

),

inconsistent_months as (

    select
        customer_id,
        month_start,
        'monthly row inconsistent' as problem
    from with_previous
    where
        tier != (array['normal', 'watch', 'doubtful', 'exit'])[tier_rank + 1]
        or (reason_codes is null) != (tier = 'normal')
        or previous_tier is distinct from tier_before
        or tier_changed != (tier != coalesce(tier_before, 'normal'))

),

expected_changes as (

    select
        customer_id,
        month_start,
        previous_tier as from_tier,
        tier as to_tier
    from monthly
    where tier_changed

),

held_changes as (

    select
        customer_id,
        month_start,
        from_tier,
        to_tier
    from changes

),

change_differences as (

    (
        select
            customer_id,
            month_start,
            'change missing from mart_early_warning_changes' as problem
        from (
            select * from expected_changes
            except
            select * from held_changes
        ) as missing
    )

    union all

    (
        select
            customer_id,
            month_start,
            'change not in mart_early_warning_monthly' as problem
        from (
            select * from held_changes
            except
            select * from expected_changes
        ) as extra
    )

)

select * from inconsistent_months

union all

select * from change_differences
