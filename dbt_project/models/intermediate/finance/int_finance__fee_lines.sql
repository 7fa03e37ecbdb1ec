{#-
    Fee and commission income attributed to customers: one row per customer,
    closed month and fee kind (per account or product where it belongs to
    one), to the cent:
      transaction_fee      fees charged on core banking transactions
      card_annual_fee      card annual fees not waived
      wealth_commission    commissions on wealth-product subscriptions
      insurance_commission premium x commission rate, booked in the month a
                           policy starts and in each month it is renewed (the
                           renewals come from the policy's version history)
    Monthly incremental (macro monthly_incremental): the transactions are
    read for the months rebuilt only (fct_transactions' month_start index).
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

transactions as (

    select * from {{ ref('fct_transactions') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

cards as (

    select * from {{ ref('stg_cards__cards') }}

),

annual_fees as (

    select * from {{ ref('stg_cards__annual_fees') }}

),

subscriptions as (

    select * from {{ ref('stg_wealth__wealth_subscriptions') }}

),

policies as (

    select * from {{ ref('stg_wealth__insurance_policies') }}

),

policy_history as (

    select * from {{ ref('base_wealth__insurance_policies') }}

),

-- A renewal is a (policy, renewed_on) in the version history: the insurance
-- system rolls a renewed policy forward, so its latest version no longer says.
renewals as (

    select
        policy_history.policy_id,
        policy_history.customer_id,
        policy_history.product_code,
        policy_history.annual_premium,
        policy_history.commission_rate,
        policy_history.renewed_on,
        row_number() over (
            partition by policy_history.policy_id, policy_history.renewed_on
            order by policy_history.updated_at desc, policy_history._batch_id desc
        ) as version_rank
    from policy_history
    where policy_history.renewed_on is not null

),

-- One row per fee earned, then summed below.
earned as (

    select
        transactions.customer_id,
        transactions.month_start,
        transactions.account_id,
        transactions.product_code,
        transactions.branch_code,
        'transaction_fee' as fee_kind,
        transactions.fee_amount as amount
    from transactions
    where transactions.fee_amount != 0 and transactions.customer_id is not null

    union all

    select
        cards.customer_id,
        date_trunc('month', annual_fees.fee_date)::date as month_start,
        cards.account_id,
        case cards.card_type when 'credit' then 'CREDIT_CARD' else 'DEBIT_CARD' end
            as product_code,
        coalesce(accounts.branch_code, customers.branch_code) as branch_code,
        'card_annual_fee' as fee_kind,
        annual_fees.amount
    from annual_fees
    inner join cards
        on annual_fees.card_id = cards.card_id
    left join accounts
        on cards.account_id = accounts.account_id
    left join customers
        on cards.customer_id = customers.customer_id
    where not coalesce(annual_fees.waived, false)

    union all

    select
        subscriptions.customer_id,
        date_trunc('month', subscriptions.trade_date)::date as month_start,
        null::bigint as account_id,
        subscriptions.product_code,
        customers.branch_code,
        'wealth_commission' as fee_kind,
        subscriptions.commission as amount
    from subscriptions
    inner join customers
        on subscriptions.customer_id = customers.customer_id
    where subscriptions.commission != 0

    union all

    -- insurance commission: booked when a policy starts ...
    select
        policies.customer_id,
        date_trunc('month', policies.start_date)::date as month_start,
        null::bigint as account_id,
        policies.product_code,
        customers.branch_code,
        'insurance_commission' as fee_kind,
        policies.annual_premium * policies.commission_rate as amount
    from policies
    inner join customers
        on policies.customer_id = customers.customer_id
    where policies.start_date is not null

    union all

    -- ... and at each renewal
    select
        renewals.customer_id,
        date_trunc('month', renewals.renewed_on)::date as month_start,
        null::bigint as account_id,
        renewals.product_code,
        customers.branch_code,
        'insurance_commission' as fee_kind,
        renewals.annual_premium * renewals.commission_rate as amount
    from renewals
    inner join customers
        on renewals.customer_id = customers.customer_id
    where renewals.version_rank = 1

),

summed as (

    select
        earned.customer_id,
        earned.month_start,
        earned.account_id,
        earned.product_code,
        earned.branch_code,
        earned.fee_kind,
        sum(earned.amount) as amount
    from earned
    group by
        earned.customer_id,
        earned.month_start,
        earned.account_id,
        earned.product_code,
        earned.branch_code,
        earned.fee_kind

),

final as (

    select
        summed.customer_id,
        summed.month_start,
        summed.account_id,
        summed.product_code,
        summed.branch_code,
        summed.fee_kind,
        round(summed.amount, 2)::numeric(18, 2) as amount
    from summed
    inner join months
        on summed.month_start = months.month_start

)

select * from final
