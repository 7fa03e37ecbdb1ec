{#-
    What each customer holds at the end of each closed month
    (int_finance__closed_months), one row per customer, month and product
    category of the catalogue (dim_product.category), with how many products
    of the category the customer holds and their month-end balance where the
    product has one. A product is held at month end when:
      accounts:  opened on or before the month's end (no opening date: always)
                 and not closed by then (closed_on, else status 'closed'
                 dated by its last update); balance = sum of the accounts'
                 month-end balances (fct_account_balances_monthly), null when
                 none of them has a published balance;
      cards:     issued on or before the month's end, not expired by then,
                 and not cancelled/closed by then (the card's last update
                 dates its cancellation); category = the catalogue's
                 '<CARD_TYPE>_CARD' product; no balance;
      wealth:    the customer's latest wealth-holdings snapshot in the month
                 lists the product with a positive market value; balance =
                 market value;
      insurance: the policy started on or before the month's end and has not
                 ended by then (a lapsed, cancelled, terminated or expired
                 policy ends on its last update: the day the insurance system
                 recorded the change); no balance.
    Products outside the catalogue (category 'unknown') are left out: they
    cannot be cross-sold. Customers must exist in core banking.

    Every end is dated by the record that states it (closed_on or the last
    update), never by a date earlier than the change's load, so a month
    already built never changes later. Monthly incremental (macro
    monthly_incremental): a run rebuilds only the months whose inputs a load
    batch touched (an entity's new version touches its month and every later
    one) and the months closed since the last build.
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

accounts as (

    select * from {{ ref('dim_account') }}

),

balances as (

    select * from {{ ref('fct_account_balances_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

cards as (

    select * from {{ ref('stg_cards__cards') }}

),

wealth_holdings as (

    select * from {{ ref('stg_wealth__wealth_holdings') }}
    where {{ monthly_incremental_filter("date_trunc('month', as_of_date)", months) }}

),

policies as (

    select * from {{ ref('stg_wealth__insurance_policies') }}

),

catalogue as (

    select
        products.product_code,
        products.family as product_family,
        products.category as product_category
    from products
    where products.is_in_catalogue and products.category != 'unknown'

),

-- Accounts of the catalogue with the day they stopped being held (null: still open).
dated_accounts as (

    select
        accounts.account_id,
        accounts.customer_id,
        accounts.opened_on,
        catalogue.product_category,
        catalogue.product_family,
        coalesce(
            accounts.closed_on,
            case
                when accounts.status = 'closed'
                    then (accounts.updated_at at time zone 'UTC')::date
            end
        ) as ended_on
    from accounts
    inner join catalogue
        on accounts.product_code = catalogue.product_code

),

account_lines as (

    select
        dated_accounts.customer_id,
        months.month_start,
        dated_accounts.product_category,
        dated_accounts.product_family,
        dated_accounts.account_id as product_id,
        balances.end_balance as balance
    from dated_accounts
    inner join months
        on
            coalesce(dated_accounts.opened_on, months.month_start) <= months.month_end
            and (dated_accounts.ended_on is null or dated_accounts.ended_on > months.month_end)
    left join balances
        on
            dated_accounts.account_id = balances.account_id
            and months.month_start = balances.month_start

),

card_lines as (

    select
        cards.customer_id,
        months.month_start,
        catalogue.product_category,
        catalogue.product_family,
        cards.card_id as product_id,
        null::numeric(18, 2) as balance
    from cards
    inner join catalogue
        on upper(cards.card_type) || '_CARD' = catalogue.product_code
    inner join months
        on
            coalesce(cards.issued_on, months.month_start) <= months.month_end
            and (cards.expires_on is null or cards.expires_on > months.month_end)
            and (
                cards.status is null
                or cards.status not in ('cancelled', 'closed')
                or (cards.updated_at at time zone 'UTC')::date > months.month_end
            )

),

-- The latest snapshot date of each customer in each month.
wealth_snapshots as (

    select
        wealth_holdings.customer_id,
        wealth_holdings.product_code,
        wealth_holdings.market_value,
        date_trunc('month', wealth_holdings.as_of_date)::date as month_start,
        wealth_holdings.as_of_date = max(wealth_holdings.as_of_date) over (
            partition by
                wealth_holdings.customer_id,
                date_trunc('month', wealth_holdings.as_of_date)
        ) as is_latest_in_month
    from wealth_holdings

),

wealth_lines as (

    select
        wealth_snapshots.customer_id,
        months.month_start,
        catalogue.product_category,
        catalogue.product_family,
        null::bigint as product_id,
        wealth_snapshots.market_value as balance
    from wealth_snapshots
    inner join catalogue
        on wealth_snapshots.product_code = catalogue.product_code
    inner join months
        on wealth_snapshots.month_start = months.month_start
    where wealth_snapshots.is_latest_in_month and wealth_snapshots.market_value > 0

),

policy_lines as (

    select
        policies.customer_id,
        months.month_start,
        catalogue.product_category,
        catalogue.product_family,
        policies.policy_id as product_id,
        null::numeric(18, 2) as balance
    from policies
    inner join catalogue
        on policies.product_code = catalogue.product_code
    inner join months
        on
            coalesce(policies.start_date, months.month_start) <= months.month_end
            and (
                policies.status is null
                or policies.status not in ('lapsed', 'cancelled', 'terminated', 'expired')
                or (policies.updated_at at time zone 'UTC')::date > months.month_end
            )

),

lines as (

    select * from account_lines
    union all
    select * from card_lines
    union all
    select * from wealth_lines
    union all
    select * from policy_lines

),

final as (

    select
        lines.customer_id,
        lines.month_start,
        lines.product_category,
        min(lines.product_family) as product_family,
        count(*)::integer as products,
        sum(lines.balance)::numeric(18, 2) as month_end_balance
    from lines
    inner join customers
        on lines.customer_id = customers.customer_id
    group by lines.customer_id, lines.month_start, lines.product_category

)

select * from final
