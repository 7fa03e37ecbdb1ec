{#-
    The branch network with its hierarchy (head office > regional offices >
    branches), from the delivered branches reference data, plus the member
    'UNKNOWN' (always present) for branch codes that customers or accounts use
    but the reference data lacks: dim_customer and dim_account map those codes
    to it.
-#}
with recursive

branches as (

    select * from {{ ref('stg_reference__branches') }}

),

levels as (

    select * from {{ ref('ref_branch_levels') }}

),

-- Walk the hierarchy from its roots (no parent, or a parent not delivered) down; a
-- row whose parents form a cycle never reaches a root and is left out (depth capped).
tree as (

    select
        branches.branch_code,
        branches.branch_code as head_office_code,
        case when branches.level = 'region' then branches.branch_code end as regional_office_code,
        branches.branch_code::text as hierarchy_path,
        1 as hierarchy_depth
    from branches
    left join branches as parents
        on branches.parent_code = parents.branch_code
    where parents.branch_code is null

    union all

    select
        children.branch_code,
        tree.head_office_code,
        coalesce(
            tree.regional_office_code,
            case when children.level = 'region' then children.branch_code end
        ) as regional_office_code,
        tree.hierarchy_path || ' > ' || children.branch_code as hierarchy_path,
        tree.hierarchy_depth + 1 as hierarchy_depth
    from branches as children
    inner join tree
        on children.parent_code = tree.branch_code
    where tree.hierarchy_depth < 10

),

delivered as (

    select
        branches.branch_code,
        branches.branch_name,
        branches.city,
        branches.region,
        branches.level,
        levels.level_name,
        levels.level_rank::integer as level_rank,
        branches.parent_code,
        parents.branch_name as parent_name,
        tree.regional_office_code,
        tree.head_office_code,
        tree.hierarchy_path,
        false as is_unknown_member
    from branches
    inner join tree
        on branches.branch_code = tree.branch_code
    left join levels
        on branches.level = levels.level
    left join branches as parents
        on branches.parent_code = parents.branch_code

),

unknown_member as (

    select
        'UNKNOWN' as branch_code,
        'Unknown branch' as branch_name,
        'unknown' as city,
        'unknown' as region,
        'branch' as level,  -- noqa: RF04
        levels.level_name,
        levels.level_rank::integer as level_rank,
        null as parent_code,
        null as parent_name,
        null as regional_office_code,
        null as head_office_code,
        'UNKNOWN' as hierarchy_path,
        true as is_unknown_member
    from levels
    where levels.level = 'branch'

),

final as (

    select * from delivered
    union all
    select * from unknown_member

)

select * from final
