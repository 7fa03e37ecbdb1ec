-- Every rate and share of the service marts lies between 0 and 1 and NPS between -100 and
-- 100. Returns one row per offending value.
with

complaints as (

    select
        'mart_complaints_monthly.sla_breach_rate' as rate_name,
        sla_breach_rate as rate_value
    from {{ ref('mart_complaints_monthly') }}

),

satisfaction as (

    select
        'mart_satisfaction_monthly.promoter_share' as rate_name,
        promoter_share as rate_value
    from {{ ref('mart_satisfaction_monthly') }}

    union all

    select
        'mart_satisfaction_monthly.detractor_share' as rate_name,
        detractor_share as rate_value
    from {{ ref('mart_satisfaction_monthly') }}

    union all

    -- NPS in points, scaled to [-1, 1] and shifted to [0, 1].
    select
        'mart_satisfaction_monthly.nps' as rate_name,
        (nps + 100) / 200 as rate_value
    from {{ ref('mart_satisfaction_monthly') }}

),

renewals as (

    select
        'mart_insurance_renewals.renewal_rate' as rate_name,
        renewal_rate as rate_value
    from {{ ref('mart_insurance_renewals') }}

),

all_rates as (

    select * from complaints
    union all
    select * from satisfaction
    union all
    select * from renewals

)

select
    all_rates.rate_name,
    all_rates.rate_value
from all_rates
where all_rates.rate_value < 0 or all_rates.rate_value > 1
