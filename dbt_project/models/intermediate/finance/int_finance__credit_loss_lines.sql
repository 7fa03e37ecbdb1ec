{#-
    Expected credit loss on loans, one row per loan account and closed month:
    PD for the month x LGD x EAD, where EAD is the outstanding balance at the
    month's end (core banking loan status), PD and LGD come from the loan's
    five-tier class (reference PD/LGD; the class is core banking's, else
    derived from days past due with the reference bounds), and the monthly
    PD is 1 - (1 - annual PD)^(1/12). Rounded to the cent. Monthly
    incremental (macro monthly_incremental).
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

loan_status as (

    select * from {{ ref('stg_core_banking__loan_status') }}
    where {{ monthly_incremental_filter('status_month', months) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

pd_lgd as (

    select * from {{ ref('int_reference__pd_lgd') }}

),

dpd_bounds as (

    select * from {{ ref('ref_five_tier_dpd') }}

),

classified as (

    select
        loan_status.account_id,
        loan_status.status_month as month_start,
        loan_status.outstanding,
        loan_status.days_past_due,
        coalesce(
            loan_status.five_tier_class,
            (
                select bounds.five_tier_class
                from dpd_bounds as bounds
                where bounds.min_days_past_due <= coalesce(loan_status.days_past_due, 0)
                order by bounds.min_days_past_due desc
                limit 1
            )
        ) as five_tier_class
    from loan_status

),

final as (

    select
        accounts.customer_id,
        classified.month_start,
        classified.account_id,
        accounts.product_code,
        accounts.branch_code,
        classified.five_tier_class,
        classified.days_past_due,
        classified.outstanding as exposure_at_default,
        pd_lgd.pd_annual,
        (1 - power(1 - pd_lgd.pd_annual, 1.0 / 12))::numeric(10, 8) as pd_month,
        pd_lgd.lgd,
        round(
            (1 - power(1 - pd_lgd.pd_annual, 1.0 / 12))
            * pd_lgd.lgd
            * greatest(classified.outstanding, 0),
            2
        )::numeric(18, 2) as expected_credit_loss
    from classified
    inner join months
        on classified.month_start = months.month_start
    inner join accounts
        on classified.account_id = accounts.account_id
    left join pd_lgd
        on classified.five_tier_class = pd_lgd.five_tier_class

)

select * from final
