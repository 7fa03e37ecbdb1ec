{#-
    Loans per account and month: outstanding balance, days past due and the
    five-tier class (core banking's, else derived from days past due), with
    the class's PD and LGD and the month's expected credit loss, as
    contribution uses them (int_finance__credit_loss_lines), plus the
    borrower, product and branch, and whether the loan is past due.
    Monthly incremental (macro monthly_incremental).
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

credit_losses as (

    select * from {{ ref('int_finance__credit_loss_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

final as (

    select
        credit_losses.account_id,
        credit_losses.month_start,
        credit_losses.customer_id,
        credit_losses.product_code,
        credit_losses.branch_code,
        credit_losses.exposure_at_default as outstanding,
        credit_losses.days_past_due,
        coalesce(credit_losses.days_past_due, 0) > 0 as is_past_due,
        credit_losses.five_tier_class,
        credit_losses.pd_annual,
        credit_losses.lgd,
        credit_losses.expected_credit_loss
    from credit_losses

)

select * from final
