{#-
    Activity-based costing: one row per customer, closed month and activity
    (per account or card where the activity belongs to one), with the count,
    the unit cost from the reference data and the cost (count x unit cost,
    to the cent). Activities:
      teller_transaction   core banking transactions at a branch counter
      branch_visit         days a customer transacted at a branch
      atm_use              ATM transactions
      digital_transaction  mobile and online transactions, online card payments
      pos_transaction      card payments at a point of sale
      account_maintenance  each account with a balance in the month
      statement            each deposit account with a balance in the month
      card_maintenance     each card active in the month
      rm_contact           relationship-manager calls, visits and messages
      complaint_handling   complaints opened in the month
    An activity with no unit cost in the reference data costs nothing and is
    kept with a null unit cost, so the gap is visible. Monthly incremental
    (macro monthly_incremental): transactions and account months are read
    for the months rebuilt only.
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

account_months as (

    select * from {{ ref('int_finance__account_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

transactions as (

    select * from {{ ref('fct_transactions') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

cards as (

    select * from {{ ref('stg_cards__cards') }}

),

card_transactions as (

    select * from {{ ref('stg_cards__card_transactions') }}
    where {{ monthly_incremental_filter("date_trunc('month', txn_ts)::date", months) }}

),

interactions as (

    select * from {{ ref('stg_crm__interactions') }}
    where {{ monthly_incremental_filter("date_trunc('month', interaction_ts)::date", months) }}

),

complaints as (

    select * from {{ ref('stg_service__complaints') }}
    where {{ monthly_incremental_filter("date_trunc('month', opened_at)::date", months) }}

),

unit_costs as (

    select * from {{ ref('int_reference__unit_costs') }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

account_transactions as (

    select
        transactions.customer_id,
        transactions.account_id,
        transactions.product_code,
        transactions.branch_code,
        transactions.month_start,
        transactions.txn_date,
        transactions.channel
    from transactions
    where transactions.customer_id is not null

),

card_products as (

    select
        cards.card_id,
        cards.customer_id,
        cards.account_id,
        case cards.card_type when 'credit' then 'CREDIT_CARD' else 'DEBIT_CARD' end
            as product_code,
        coalesce(accounts.branch_code, customers.branch_code) as branch_code,
        cards.issued_on,
        cards.expires_on,
        cards.status,
        cards.updated_at
    from cards
    left join accounts
        on cards.account_id = accounts.account_id
    left join customers
        on cards.customer_id = customers.customer_id

),

-- One row per occurrence of an activity, then counted below.
occurrences as (

    select
        customer_id,
        month_start,
        account_id,
        product_code,
        branch_code,
        case channel
            when 'branch' then 'teller_transaction'
            when 'atm' then 'atm_use'
            when 'mobile' then 'digital_transaction'
            when 'online' then 'digital_transaction'
            when 'pos' then 'pos_transaction'
        end as activity
    from account_transactions
    where channel in ('branch', 'atm', 'mobile', 'online', 'pos')

    union all

    -- a branch visit is a day the customer transacted at a branch
    select distinct
        account_transactions.customer_id,
        account_transactions.month_start,
        null::bigint as account_id,
        null::text as product_code,
        customers.branch_code,
        'branch_visit' || ':' || account_transactions.txn_date as activity
    from account_transactions
    inner join customers
        on account_transactions.customer_id = customers.customer_id
    where account_transactions.channel = 'branch'

    union all

    select
        customer_id,
        month_start,
        account_id,
        product_code,
        branch_code,
        'account_maintenance' as activity
    from account_months
    where days > 0

    union all

    select
        customer_id,
        month_start,
        account_id,
        product_code,
        branch_code,
        'statement' as activity
    from account_months
    where days > 0 and product_family = 'deposit'

    union all

    -- a card costs upkeep from its issue month until it expires or, once
    -- cancelled, until the month of its last change
    select
        card_products.customer_id,
        months.month_start,
        card_products.account_id,
        card_products.product_code,
        card_products.branch_code,
        'card_maintenance' as activity
    from card_products
    inner join months
        on
            card_products.issued_on <= months.month_end
            and (
                card_products.expires_on is null
                or card_products.expires_on >= months.month_start
            )
            and (
                card_products.status != 'cancelled'
                or card_products.updated_at::date >= months.month_start
            )

    union all

    select
        card_products.customer_id,
        date_trunc('month', card_transactions.txn_ts)::date as month_start,
        card_products.account_id,
        card_products.product_code,
        card_products.branch_code,
        case card_transactions.channel
            when 'pos' then 'pos_transaction'
            else 'digital_transaction'
        end as activity
    from card_transactions
    inner join card_products
        on card_transactions.card_id = card_products.card_id

    union all

    select
        interactions.customer_id,
        date_trunc('month', interactions.interaction_ts)::date as month_start,
        null::bigint as account_id,
        null::text as product_code,
        customers.branch_code,
        'rm_contact' as activity
    from interactions
    inner join customers
        on interactions.customer_id = customers.customer_id

    union all

    select
        complaints.customer_id,
        date_trunc('month', complaints.opened_at)::date as month_start,
        null::bigint as account_id,
        null::text as product_code,
        customers.branch_code,
        'complaint_handling' as activity
    from complaints
    inner join customers
        on complaints.customer_id = customers.customer_id

),

counted as (

    select
        occurrences.customer_id,
        occurrences.month_start,
        occurrences.account_id,
        occurrences.product_code,
        occurrences.branch_code,
        split_part(occurrences.activity, ':', 1) as activity,
        count(*) as quantity
    from occurrences
    group by
        occurrences.customer_id,
        occurrences.month_start,
        occurrences.account_id,
        occurrences.product_code,
        occurrences.branch_code,
        split_part(occurrences.activity, ':', 1)

),

final as (

    select
        counted.customer_id,
        counted.month_start,
        counted.account_id,
        counted.product_code,
        counted.branch_code,
        counted.activity,
        counted.quantity::integer as quantity,
        unit_costs.unit_cost,
        round(counted.quantity * coalesce(unit_costs.unit_cost, 0), 2)::numeric(18, 2)
            as activity_cost
    from counted
    inner join months
        on counted.month_start = months.month_start
    left join unit_costs
        on counted.activity = unit_costs.activity

)

select * from final
