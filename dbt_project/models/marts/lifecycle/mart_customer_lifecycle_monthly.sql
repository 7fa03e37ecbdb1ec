{#-
    Lifecycle stage per customer and closed month (DESIGN.md section 4,
    "Lifecycle and churn"). Every customer known by the month's end (joined,
    or holding a product) has a row in every closed month from then on, so
    a customer without a product yet is a prospect and a churned customer
    stays visible (and churned) in the months after it left.

    Products are the customer's core banking accounts (deposits and loans;
    cards hang off a current account in both banks). An account is open at
    the end of day D when opened_on <= D and it has not closed by D
    (closed_on > D; an account marked closed without a date closed on its
    last change).

    Stage, first matching rule wins (precedence):
      1. prospect  no product opened by the month's end.
      2. churned   nothing open at the month's end after having had a
                   product: every product closed. It sticks by construction
                   (nothing open stays nothing open) until the customer opens
                   something new; the relationship then restarts as `new`
                   (months since the first product count from the reopening).
      3. dormant   no customer-initiated transaction for at least
                   `lifecycle_dormant_days` days at the month's end.
      4. decline   at least `lifecycle_new_months` months since the first
                   product (a baseline exists), and the month-end deposits
                   are below `lifecycle_decline_share` (0.75), or the
                   month's customer-initiated transactions below
                   `lifecycle_decline_activity_share` (0.3), of the
                   customer's own average over the previous 6 months in
                   which it held a product. Two shares because deposits
                   are steady and transaction counts are noisy.
      5. new       fewer than `lifecycle_new_months` months since the first
                   product (exploration);
         growth    fewer than `lifecycle_mature_months` (formation);
         mature    from then on (stability).
    Customer-initiated transactions are the ones the customer makes: core
    banking cash deposits and withdrawals, card withdrawals, payments and
    outgoing transfers (not salaries, pensions, incoming transfers, interest,
    fees or scheduled loan, household, insurance and leasing payments), and
    card payments. Before the first closed month there is no transaction
    history, so the days without one count at most from that month's start
    (and at most from the start of the current relationship).
    A customer churns in the month when it is churned at the month's end and
    was active at its start (something open at the previous month's end); so
    every churn counts against a customer active at the start, and one that
    opens and closes its only account within a month is not a churn.
    The ML columns come from the current lifecycle labels for the same month
    (null until the ML stage has written them).

    Monthly incremental (macro monthly_incremental): a changed month is
    rebuilt with every month after it (a late transaction moves the last
    transaction day of all later months), reading the customer's six months
    before the first rebuilt month from the table itself for the trailing
    averages, the last transaction day and the previous stage. A post-hook
    keeps the ML columns equal to the current labels on every row (the ML
    stage writes them after the marts), so a day-by-day build and a full
    refresh give the same table.
-#}
{{ monthly_incremental_config(
    trailing_months=1200,
    indexes=[{'columns': ['customer_id', 'month_start'], 'unique': True}],
) }}
{#- the ML columns of every row follow the current labels (see above) -#}
{{ config(post_hook=[
    "update {{ this }} as held"
    ~ " set ml_lifecycle_stage = changed.lifecycle_stage,"
    ~ " churn_probability = changed.churn_probability,"
    ~ " probability_alive = changed.probability_alive"
    ~ " from ("
    ~ "select held_rows.customer_id, held_rows.month_start, labels.lifecycle_stage,"
    ~ " labels.churn_probability::double precision as churn_probability,"
    ~ " labels.probability_alive::double precision as probability_alive"
    ~ " from {{ this }} as held_rows"
    ~ " left join {{ ref('stg_ml__current_customer_lifecycle') }} as labels"
    ~ " on held_rows.customer_id = labels.customer_id"
    ~ " and held_rows.month_start = labels.as_of_month"
    ~ " where (held_rows.ml_lifecycle_stage, held_rows.churn_probability,"
    ~ " held_rows.probability_alive) is distinct from (labels.lifecycle_stage::text,"
    ~ " labels.churn_probability::double precision,"
    ~ " labels.probability_alive::double precision)"
    ~ ") as changed"
    ~ " where held.customer_id = changed.customer_id"
    ~ " and held.month_start = changed.month_start"
]) }}
{%- set months = monthly_incremental_months() %}
{%- set new_months = var('lifecycle_new_months', 3) -%}
{%- set mature_months = var('lifecycle_mature_months', 12) -%}
{%- set decline_share = var('lifecycle_decline_share', 0.75) -%}
{%- set decline_activity_share = var('lifecycle_decline_activity_share', 0.3) -%}
{%- set dormant_days = var('lifecycle_dormant_days', 60) -%}
{%- set baseline_months = 6 -%}
with

closed_months as (

    select * from {{ ref('int_finance__closed_months') }}

),

months as (

    select * from closed_months
    where {{ monthly_incremental_filter('closed_months.month_start', months) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

balances as (

    select * from {{ ref('stg_core_banking__balances') }}
    where {{ monthly_incremental_filter('balance_month', months) }}

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

customer_months as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

),

ml_lifecycle as (

    select * from {{ ref('stg_ml__current_customer_lifecycle') }}

),

first_month as (

    select min(closed_months.month_start) as first_month_start
    from closed_months

),

products as (

    select
        accounts.account_id,
        accounts.customer_id,
        accounts.opened_on,
        coalesce(
            accounts.closed_on,
            case when accounts.status = 'closed' then accounts.updated_at::date end
        ) as closed_on
    from accounts
    where accounts.customer_id is not null and accounts.opened_on is not null

),

first_products as (

    select
        products.customer_id,
        min(products.opened_on) as first_product_on
    from products
    group by products.customer_id

),

-- Relationships: an account opened in a month after the month in which
-- everything opened before it had closed (a month end with nothing open)
-- starts a new relationship.
coverage as (

    select
        products.customer_id,
        products.opened_on,
        max(coalesce(products.closed_on, 'infinity'::date)) over (
            partition by products.customer_id
            order by products.opened_on asc, products.account_id asc
            rows between unbounded preceding and 1 preceding
        ) as covered_until
    from products

),

relationship_starts as (

    select
        coverage.customer_id,
        coverage.opened_on as started_on,
        lead(coverage.opened_on) over (
            partition by coverage.customer_id
            order by coverage.opened_on asc
        ) as next_started_on
    from coverage
    where
        coverage.covered_until is null
        or date_trunc('month', coverage.opened_on) > date_trunc('month', coverage.covered_until)

),

known_customers as (

    select
        customers.customer_id::bigint as customer_id,
        customers.customer_type,
        customers.branch_code,
        first_products.first_product_on,
        least(customers.joined_on, first_products.first_product_on) as known_on
    from customers
    left join first_products
        on customers.customer_id = first_products.customer_id
    where customers.customer_id is not null

),

spine as (

    select
        known_customers.customer_id,
        known_customers.customer_type,
        known_customers.branch_code,
        known_customers.first_product_on,
        months.month_start,
        months.month_end
    from known_customers
    inner join months
        on coalesce(known_customers.known_on, months.month_start) <= months.month_end

),

open_products as (

    select
        products.customer_id,
        months.month_start,
        count(*) filter (
            where
            products.opened_on < months.month_start
            and (products.closed_on is null or products.closed_on >= months.month_start)
        ) as open_at_start,
        count(*) filter (
            where
            products.opened_on <= months.month_end
            and (products.closed_on is null or products.closed_on > months.month_end)
        ) as open_at_end
    from products
    inner join months
        on
            products.opened_on <= months.month_end
            and (products.closed_on is null or products.closed_on >= months.month_start)
    group by products.customer_id, months.month_start

),

customer_transactions as (

    select
        transactions.customer_id,
        transactions.month_start,
        transactions.txn_date
    from transactions
    where
        transactions.customer_id is not null
        and transactions.txn_type in (
            'cash_deposit', 'cash_withdrawal', 'card_withdrawal', 'payment', 'transfer_out'
        )

    union all

    select
        cards.customer_id,
        date_trunc('month', card_transactions.txn_ts)::date as month_start,
        card_transactions.txn_ts::date as txn_date
    from card_transactions
    inner join cards
        on card_transactions.card_id = cards.card_id
    where cards.customer_id is not null

),

monthly_activity as (

    select
        customer_transactions.customer_id,
        customer_transactions.month_start,
        count(*) as customer_txns,
        max(customer_transactions.txn_date) as last_txn_on
    from customer_transactions
    group by customer_transactions.customer_id, customer_transactions.month_start

),

monthly_deposits as (

    select
        accounts.customer_id,
        balances.balance_month as month_start,
        sum(balances.end_balance) as deposits_month_end
    from balances
    inner join accounts
        on balances.account_id = accounts.account_id
    where accounts.account_type is distinct from 'loan'
    group by accounts.customer_id, balances.balance_month

),

measured as (

    select
        spine.customer_id,
        spine.month_start,
        spine.month_end,
        spine.customer_type,
        spine.branch_code,
        spine.first_product_on,
        date_trunc('month', relationship_starts.started_on)::date as relationship_start_month,
        coalesce(open_products.open_at_start, 0) as open_accounts_at_start,
        coalesce(open_products.open_at_end, 0) as open_accounts_at_end,
        coalesce(monthly_activity.customer_txns, 0) as customer_txns,
        coalesce(monthly_deposits.deposits_month_end, 0) as deposits_month_end,
        monthly_activity.last_txn_on,
        null::text as held_stage,
        false as is_context
    from spine
    left join open_products
        on
            spine.customer_id = open_products.customer_id
            and spine.month_start = open_products.month_start
    left join relationship_starts
        on
            spine.customer_id = relationship_starts.customer_id
            and spine.month_end >= relationship_starts.started_on
            and (
                relationship_starts.next_started_on is null
                or spine.month_end < relationship_starts.next_started_on
            )
    left join monthly_activity
        on
            spine.customer_id = monthly_activity.customer_id
            and spine.month_start = monthly_activity.month_start
    left join monthly_deposits
        on
            spine.customer_id = monthly_deposits.customer_id
            and spine.month_start = monthly_deposits.month_start

    {% if months %}
        -- incremental: the months before the first rebuilt one, as built
        union all

        select
            held.customer_id,
            held.month_start,
            null::date as month_end,
            null::text as customer_type,
            null::text as branch_code,
            held.first_product_on,
            held.relationship_start_month,
            held.open_accounts_at_start,
            held.open_accounts_at_end,
            held.customer_txns,
            held.deposits_month_end,
            held.last_customer_txn_on as last_txn_on,
            held.lifecycle_stage as held_stage,
            true as is_context
        from {{ this }} as held
        where
            held.month_start < '{{ months[0] }}'::date
            and held.month_start
            >= '{{ months[0] }}'::date - interval '{{ baseline_months }} months'
    {% endif %}

),

baselines as (

    select
        measured.*,
        max(measured.last_txn_on) over (
            partition by measured.customer_id
            order by measured.month_start asc
            rows between unbounded preceding and current row
        ) as last_customer_txn_on,
        avg(
            case
                when measured.open_accounts_at_end > 0
                    then measured.customer_txns::numeric
            end
        ) over (
            partition by measured.customer_id
            order by measured.month_start asc
            rows between {{ baseline_months }} preceding and 1 preceding
        ) as customer_txns_trailing_avg,
        avg(
            case
                when measured.open_accounts_at_end > 0
                    then measured.deposits_month_end
            end
        ) over (
            partition by measured.customer_id
            order by measured.month_start asc
            rows between {{ baseline_months }} preceding and 1 preceding
        ) as deposits_trailing_avg
    from measured

),

inputs as (

    select
        baselines.*,
        case
            when baselines.open_accounts_at_end > 0
                then
                    (
                        extract(year from baselines.month_start)::integer * 12
                        + extract(month from baselines.month_start)::integer
                    )
                    - (
                        extract(year from baselines.relationship_start_month)::integer * 12
                        + extract(month from baselines.relationship_start_month)::integer
                    )
        end as months_since_first_product,
        case
            when baselines.open_accounts_at_end > 0
                then
                    baselines.month_end
                    - greatest(
                        baselines.last_customer_txn_on,
                        baselines.first_product_on,
                        baselines.relationship_start_month,
                        first_month.first_month_start
                    )
        end as days_since_last_customer_txn
    from baselines
    cross join first_month

),

staged as (

    select
        inputs.*,
        case
            when inputs.is_context
                then inputs.held_stage
            when inputs.first_product_on is null or inputs.first_product_on > inputs.month_end
                then 'prospect'
            when inputs.open_accounts_at_end = 0
                then 'churned'
            when inputs.days_since_last_customer_txn >= {{ dormant_days }}
                then 'dormant'
            when
                inputs.months_since_first_product >= {{ new_months }}
                and (
                    (
                        inputs.customer_txns_trailing_avg > 0
                        and inputs.customer_txns
                        < {{ decline_activity_share }} * inputs.customer_txns_trailing_avg
                    )
                    or (
                        inputs.deposits_trailing_avg > 0
                        and inputs.deposits_month_end
                        < {{ decline_share }} * inputs.deposits_trailing_avg
                    )
                )
                then 'decline'
            when inputs.months_since_first_product < {{ new_months }}
                then 'new'
            when inputs.months_since_first_product < {{ mature_months }}
                then 'growth'
            else 'mature'
        end as lifecycle_stage
    from inputs

),

sequenced as (

    select
        staged.*,
        lag(staged.lifecycle_stage) over (
            partition by staged.customer_id
            order by staged.month_start asc
        ) as previous_stage
    from staged

),

owned as (

    select
        sequenced.*,
        coalesce(customer_months.segment, sequenced.customer_type) as segment,
        coalesce(customer_months.branch_code, sequenced.branch_code) as branch_code_at_month,
        coalesce(customer_months.rm_id, assignments.rm_id, 'UNASSIGNED') as rm_id
    from sequenced
    left join customer_months
        on
            sequenced.customer_id = customer_months.customer_id
            and sequenced.month_start = customer_months.month_start
    left join assignments
        on
            customer_months.customer_id is null
            and sequenced.customer_id = assignments.customer_id
            and sequenced.month_end >= assignments.valid_from
            and (assignments.valid_to is null or sequenced.month_end < assignments.valid_to)
    where not sequenced.is_context

),

final as (

    select
        owned.customer_id,
        owned.month_start,
        owned.lifecycle_stage::text as lifecycle_stage,
        owned.previous_stage::text as previous_stage,
        (owned.open_accounts_at_start > 0) as is_active_at_start,
        (
            owned.lifecycle_stage = 'churned' and owned.open_accounts_at_start > 0
        ) as is_churned_in_month,
        owned.segment::text as segment,
        owned.branch_code_at_month::text as branch_code,
        owned.rm_id::text as rm_id,
        owned.first_product_on::date as first_product_on,
        case
            when owned.open_accounts_at_end > 0 then owned.relationship_start_month
        end::date as relationship_start_month,
        owned.months_since_first_product::integer as months_since_first_product,
        owned.open_accounts_at_start::integer as open_accounts_at_start,
        owned.open_accounts_at_end::integer as open_accounts_at_end,
        owned.customer_txns::integer as customer_txns,
        round(owned.customer_txns_trailing_avg, 2)::numeric(12, 2) as customer_txns_trailing_avg,
        owned.deposits_month_end::numeric(18, 2) as deposits_month_end,
        round(owned.deposits_trailing_avg, 2)::numeric(18, 2) as deposits_trailing_avg,
        owned.last_customer_txn_on::date as last_customer_txn_on,
        owned.days_since_last_customer_txn::integer as days_since_last_customer_txn,
        ml_lifecycle.lifecycle_stage::text as ml_lifecycle_stage,
        ml_lifecycle.churn_probability::double precision as churn_probability,
        ml_lifecycle.probability_alive::double precision as probability_alive
    from owned
    left join ml_lifecycle
        on
            owned.customer_id = ml_lifecycle.customer_id
            and owned.month_start = ml_lifecycle.as_of_month

)

select * from final
