{#-
    Churned sticks: a customer churned at the previous month's end is still
    churned unless it has something open again, and then it restarts its
    relationship (new, or dormant if it does nothing); it never goes back to
    prospect or to an older stage. Fails for every row that breaks it.
-#}
with

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}

)

select
    lifecycle.customer_id,
    lifecycle.month_start,
    lifecycle.previous_stage,
    lifecycle.lifecycle_stage,
    lifecycle.open_accounts_at_end,
    lifecycle.months_since_first_product
from lifecycle
where
    lifecycle.previous_stage = 'churned'
    and (
        (lifecycle.lifecycle_stage = 'churned' and lifecycle.open_accounts_at_end > 0)
        or (lifecycle.lifecycle_stage != 'churned' and lifecycle.open_accounts_at_end = 0)
        or lifecycle.lifecycle_stage not in ('churned', 'new', 'dormant')
        or (lifecycle.lifecycle_stage != 'churned' and lifecycle.months_since_first_product != 0)
        or lifecycle.is_churned_in_month
    )
