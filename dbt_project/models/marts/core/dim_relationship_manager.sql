with

managers as (

    select * from {{ ref('stg_crm__relationship_managers') }}

),

branches as (

    select * from {{ ref('dim_branch') }}

),

final as (

    select
        managers.rm_id,
        {{ mask_full_name('managers.full_name') }} as full_name_masked,
        managers.title,
        coalesce(branches.branch_code, 'UNKNOWN') as branch_code,
        managers.branch_code as source_branch_code,
        managers.hired_on,
        managers.left_on,
        managers.left_on is null as is_active,
        managers.updated_at
    from managers
    left join branches
        on
            managers.branch_code = branches.branch_code
            and not branches.is_unknown_member

)

select * from final
