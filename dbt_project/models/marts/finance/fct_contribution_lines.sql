{#-
    Every amount that makes up customer contribution, one row per customer,
    closed month, component and item (and account or product where the item
    belongs to one), each tagged with the product, branch, relationship
    manager (at the month's end) and segment it rolls up to. Contribution of
    any grain is the sum of `contribution_amount` over its lines, so the
    customer, product, branch, RM and segment figures reconcile by
    construction:
        net_interest_income (+)  per deposit and loan account (FTP method)
        fee_income (+)           per fee kind (transaction fees, card annual
                                 fees, wealth and insurance commissions)
        operating_cost (-)       per activity (activity-based costing)
        expected_credit_loss (-) per loan account
    Items that belong to no account or product (branch visits, RM contacts,
    complaints, commissions without a catalogue product) keep a null product
    and roll up to the customer's home branch. Monthly incremental (macro
    monthly_incremental): a run rebuilds the months whose inputs changed.
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

months as (

    select * from {{ ref('int_finance__closed_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

account_months as (

    select * from {{ ref('int_finance__account_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

fees as (

    select * from {{ ref('int_finance__fee_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

activities as (

    select * from {{ ref('int_finance__activity_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

credit_losses as (

    select * from {{ ref('int_finance__credit_loss_lines') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

owners as (

    select * from {{ ref('int_finance__customer_months') }}
    where {{ monthly_incremental_filter('month_start', months) }}

),

customers as (

    select * from {{ ref('stg_core_banking__customers') }}

),

lines as (

    select
        customer_id,
        month_start,
        'net_interest_income' as component,
        product_family || '_nii' as item,
        account_id,
        product_code,
        branch_code,
        null::integer as quantity,
        net_interest_income as amount
    from account_months
    where product_family in ('deposit', 'loan')

    union all

    select
        customer_id,
        month_start,
        'fee_income' as component,
        fee_kind as item,
        account_id,
        product_code,
        branch_code,
        null::integer as quantity,
        amount
    from fees

    union all

    select
        customer_id,
        month_start,
        'operating_cost' as component,
        activity as item,
        account_id,
        product_code,
        branch_code,
        quantity,
        activity_cost as amount
    from activities

    union all

    select
        customer_id,
        month_start,
        'expected_credit_loss' as component,
        five_tier_class as item,
        account_id,
        product_code,
        branch_code,
        null::integer as quantity,
        expected_credit_loss as amount
    from credit_losses

),

with_owner as (

    -- A line of a month the relationship was not open (activity after the
    -- customer closed) still counts: its owners are taken as of that month.
    select
        lines.*,
        coalesce(owners.segment, customers.customer_type) as segment,
        coalesce(lines.branch_code, owners.branch_code, customers.branch_code)
            as rollup_branch_code,
        coalesce(owners.rm_id, 'UNASSIGNED') as rm_id
    from lines
    inner join months
        on lines.month_start = months.month_start
    inner join customers
        on lines.customer_id = customers.customer_id
    left join owners
        on
            lines.customer_id = owners.customer_id
            and lines.month_start = owners.month_start

),

final as (

    select
        md5(
            concat_ws(
                '|',
                with_owner.customer_id,
                with_owner.month_start,
                with_owner.component,
                with_owner.item,
                with_owner.account_id,
                with_owner.product_code
            )
        ) as line_id,
        with_owner.customer_id,
        with_owner.month_start,
        with_owner.component,
        with_owner.item,
        with_owner.account_id,
        with_owner.product_code,
        with_owner.rollup_branch_code as branch_code,
        with_owner.rm_id,
        with_owner.segment,
        with_owner.quantity,
        with_owner.amount::numeric(18, 2) as amount,
        (
            case
                when with_owner.component in ('net_interest_income', 'fee_income')
                    then with_owner.amount
                else -with_owner.amount
            end
        )::numeric(18, 2) as contribution_amount
    from with_owner

)

select * from final
