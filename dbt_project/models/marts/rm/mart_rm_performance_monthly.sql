{#-
    Relationship-manager performance per RM and closed month (DESIGN.md
    section 4). The book of an RM in a month is the customers assigned to it
    at the month's end (int_finance__customer_months.rm_id, from
    dim_customer_rm_assignment); customers with no RM form the 'UNASSIGNED'
    line, so the book sizes of a month add up to every customer whose
    relationship is open. A bank without a CRM (Berka) has only that line.
      book_customers        customers in the book at month end
      aum                   assets under management of the book at month end:
                            deposits (month-end balances of the deposit
                            categories, each floored at 0 per customer and
                            category: an overdraft is not a negative asset)
                            + wealth market value (fct_customer_holdings_monthly)
      contribution          the book's contribution in the month, and
      contribution_trailing_12m  the sum of its customers' trailing-12-month
                            contribution (fct_customer_contribution_monthly,
                            by its month-end rm_id, so the lines of a month add
                            up to the month's total contribution)
      growth                (x - x_before) / |x_before| vs the previous month and
                            vs 12 months earlier (null when the RM had no
                            contribution row then, or x_before is 0)
      churn                 churned_in_month / active_at_start of the book
                            (mart_customer_lifecycle_monthly, its rm_id)
      cross-sell            average product depth of the book, and the share
                            of the book holding at least var
                            `rm_cross_sell_min_depth` (default 3) categories
      complaints            opened in the month by customers of the RM on the
                            day (fct_complaints.rm_id) and how many breached
                            their SLA
      key accounts          key and potential key accounts in the book
                            (mart_key_accounts) and the RM's share of the
                            month's key accounts
    Each input is read once and aggregated to RM and month before the joins.
    Monthly incremental (macro monthly_incremental), trailing window of 13
    months: a changed month rebuilds it and the twelve after it (whose
    growth vs 12 months earlier reads it); the contribution is read 12
    months further back for the growth.
-#}
{%- set min_depth = var('rm_cross_sell_min_depth', 3) -%}
{{ monthly_incremental_config(trailing_months=13) }}
{%- set months = monthly_incremental_months() %}
with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

book as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

depth as (

    select * from {{ ref('mart_customer_product_depth_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

holdings as (

    select * from {{ ref('fct_customer_holdings_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

contribution as (

    select * from {{ ref('fct_customer_contribution_monthly') }}
    where {{ monthly_incremental_filter('month_start', months, history_months=12) }}

),

lifecycle as (

    select * from {{ ref('mart_customer_lifecycle_monthly') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}
    where {{ monthly_incremental_filter('opened_month', months) }}

),

key_accounts as (

    select * from {{ ref('mart_key_accounts') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

managers as (

    select * from {{ ref('dim_relationship_manager') }}

),

customer_aum as (

    select
        holdings.customer_id,
        holdings.month_start,
        sum(greatest(holdings.month_end_balance, 0)) filter (
            where holdings.product_family = 'deposit'
        ) as deposits,
        sum(holdings.month_end_balance) filter (
            where holdings.product_category = 'wealth'
        ) as wealth
    from holdings
    where holdings.product_family = 'deposit' or holdings.product_category = 'wealth'
    group by holdings.customer_id, holdings.month_start

),

book_totals as (

    select
        book.rm_id,
        book.month_start,
        count(*) as book_customers,
        sum(coalesce(customer_aum.deposits, 0)) as deposits,
        sum(coalesce(customer_aum.wealth, 0)) as wealth,
        avg(coalesce(depth.product_depth, 0)) as avg_product_depth,
        count(*) filter (where depth.product_depth >= {{ min_depth }}) as multi_product_customers
    from book
    left join depth
        on
            book.customer_id = depth.customer_id
            and book.month_start = depth.month_start
    left join customer_aum
        on
            book.customer_id = customer_aum.customer_id
            and book.month_start = customer_aum.month_start
    group by book.rm_id, book.month_start

),

contribution_totals as (

    select
        contribution.rm_id,
        contribution.month_start,
        sum(contribution.contribution) as contribution,
        sum(contribution.contribution_trailing_12m) as contribution_trailing_12m
    from contribution
    group by contribution.rm_id, contribution.month_start

),

churn_totals as (

    select
        lifecycle.rm_id,
        lifecycle.month_start,
        count(*) filter (where lifecycle.is_active_at_start) as active_at_start,
        count(*) filter (where lifecycle.is_churned_in_month) as churned_in_month
    from lifecycle
    group by lifecycle.rm_id, lifecycle.month_start

),

complaint_totals as (

    select
        complaints.rm_id,
        complaints.opened_month as month_start,
        count(*) as complaints,
        count(*) filter (where complaints.is_sla_breached) as sla_breaches
    from complaints
    group by complaints.rm_id, complaints.opened_month

),

key_account_totals as (

    select
        key_accounts.rm_id,
        key_accounts.month_start,
        count(*) filter (where key_accounts.is_key_account) as key_accounts,
        count(*) filter (where key_accounts.is_potential_key_account) as potential_key_accounts
    from key_accounts
    group by key_accounts.rm_id, key_accounts.month_start

),

rm_months as (

    select
        book_totals.rm_id,
        book_totals.month_start
    from book_totals
    union
    select
        contribution_totals.rm_id,
        contribution_totals.month_start
    from contribution_totals
    union
    select
        churn_totals.rm_id,
        churn_totals.month_start
    from churn_totals
    union
    select
        complaint_totals.rm_id,
        complaint_totals.month_start
    from complaint_totals
    union
    select
        key_account_totals.rm_id,
        key_account_totals.month_start
    from key_account_totals

),

combined as (

    select
        rm_months.rm_id,
        rm_months.month_start,
        coalesce(book_totals.book_customers, 0) as book_customers,
        coalesce(book_totals.deposits, 0) as deposits,
        coalesce(book_totals.wealth, 0) as wealth,
        coalesce(book_totals.avg_product_depth, 0) as avg_product_depth,
        coalesce(book_totals.multi_product_customers, 0) as multi_product_customers,
        coalesce(contribution_totals.contribution, 0) as contribution,
        coalesce(contribution_totals.contribution_trailing_12m, 0) as contribution_trailing_12m,
        coalesce(churn_totals.active_at_start, 0) as active_at_start,
        coalesce(churn_totals.churned_in_month, 0) as churned_in_month,
        coalesce(complaint_totals.complaints, 0) as complaints,
        coalesce(complaint_totals.sla_breaches, 0) as sla_breaches,
        coalesce(key_account_totals.key_accounts, 0) as key_accounts,
        coalesce(key_account_totals.potential_key_accounts, 0) as potential_key_accounts
    from rm_months
    inner join months
        on rm_months.month_start = months.month_start
    left join book_totals
        on
            rm_months.rm_id = book_totals.rm_id
            and rm_months.month_start = book_totals.month_start
    left join contribution_totals
        on
            rm_months.rm_id = contribution_totals.rm_id
            and rm_months.month_start = contribution_totals.month_start
    left join churn_totals
        on
            rm_months.rm_id = churn_totals.rm_id
            and rm_months.month_start = churn_totals.month_start
    left join complaint_totals
        on
            rm_months.rm_id = complaint_totals.rm_id
            and rm_months.month_start = complaint_totals.month_start
    left join key_account_totals
        on
            rm_months.rm_id = key_account_totals.rm_id
            and rm_months.month_start = key_account_totals.month_start

),

compared as (

    select
        combined.*,
        previous_month.contribution as contribution_previous_month,
        year_before.contribution as contribution_12_months_before,
        year_before.contribution_trailing_12m as contribution_trailing_12m_12_months_before,
        sum(combined.key_accounts) over (partition by combined.month_start) as month_key_accounts
    from combined
    left join contribution_totals as previous_month
        on
            combined.rm_id = previous_month.rm_id
            and previous_month.month_start = (combined.month_start - interval '1 month')::date
    left join contribution_totals as year_before
        on
            combined.rm_id = year_before.rm_id
            and year_before.month_start = (combined.month_start - interval '12 months')::date

),

final as (

    select
        compared.rm_id,
        compared.month_start,
        compared.rm_id != 'UNASSIGNED' as is_assigned,
        managers.branch_code as rm_branch_code,
        managers.is_active as is_rm_active,
        compared.book_customers::integer as book_customers,
        (compared.deposits + compared.wealth)::numeric(18, 2) as aum,
        compared.deposits::numeric(18, 2) as aum_deposits,
        compared.wealth::numeric(18, 2) as aum_wealth,
        compared.contribution::numeric(18, 2) as contribution,
        compared.contribution_trailing_12m::numeric(18, 2) as contribution_trailing_12m,
        compared.contribution_previous_month::numeric(18, 2) as contribution_previous_month,
        (
            (compared.contribution - compared.contribution_previous_month)
            / nullif(abs(compared.contribution_previous_month), 0)
        )::numeric(14, 6) as contribution_growth_mom,
        compared.contribution_12_months_before::numeric(18, 2) as contribution_12_months_before,
        (
            (compared.contribution - compared.contribution_12_months_before)
            / nullif(abs(compared.contribution_12_months_before), 0)
        )::numeric(14, 6) as contribution_growth_yoy,
        (
            (
                compared.contribution_trailing_12m
                - compared.contribution_trailing_12m_12_months_before
            )
            / nullif(abs(compared.contribution_trailing_12m_12_months_before), 0)
        )::numeric(14, 6) as contribution_trailing_12m_growth_yoy,
        compared.active_at_start::integer as active_at_start,
        compared.churned_in_month::integer as churned_in_month,
        (compared.churned_in_month::numeric / nullif(compared.active_at_start, 0))::numeric(12, 8)
            as churn_rate,
        compared.avg_product_depth::numeric(8, 4) as avg_product_depth,
        compared.multi_product_customers::integer as multi_product_customers,
        (
            compared.multi_product_customers::numeric / nullif(compared.book_customers, 0)
        )::numeric(12, 8) as cross_sell_rate,
        compared.complaints::integer as complaints,
        compared.sla_breaches::integer as sla_breaches,
        compared.key_accounts::integer as key_accounts,
        compared.potential_key_accounts::integer as potential_key_accounts,
        (compared.key_accounts::numeric / nullif(compared.month_key_accounts, 0))::numeric(12, 8)
            as share_of_key_accounts
    from compared
    left join managers
        on compared.rm_id = managers.rm_id

)

select * from final
