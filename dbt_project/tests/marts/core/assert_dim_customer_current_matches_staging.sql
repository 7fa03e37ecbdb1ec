-- The current version of every customer in dim_customer (rebuilt from all raw versions)
-- is the version staging keeps as the latest: same customers, same status and branch.
-- Fails with one row per customer missing on either side or differing.

with

current_versions as (

    select * from {{ ref('dim_customer') }}
    where is_current

),

staged as (

    select * from {{ ref('stg_core_banking__customers') }}

)

select
    coalesce(current_versions.customer_id, staged.customer_id) as customer_id,
    current_versions.status as dim_status,
    staged.status as staging_status,
    current_versions.source_branch_code as dim_branch_code,
    staged.branch_code as staging_branch_code
from current_versions
full outer join staged
    on current_versions.customer_id = staged.customer_id
where
    current_versions.customer_id is null
    or staged.customer_id is null
    or current_versions.status is distinct from staged.status
    or current_versions.source_branch_code is distinct from staged.branch_code
