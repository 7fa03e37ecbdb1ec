-- Every renewal occasion due is exactly one of renewed, lapsed or pending: returns the rows
-- of mart_insurance_renewals where they do not add up to policies_due.
select
    month_start,
    product_code,
    branch_code,
    rm_id,
    policies_due,
    policies_renewed,
    policies_lapsed,
    policies_pending
from {{ ref('mart_insurance_renewals') }}
where policies_due != policies_renewed + policies_lapsed + policies_pending
