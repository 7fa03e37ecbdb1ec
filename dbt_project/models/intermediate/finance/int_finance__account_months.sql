{#-
    One row per account and closed month with a balance from core banking:
    the account's product family, customer, branch, terms and the
    matched-maturity FTP rate of its term for that month, and its net
    interest income by funds transfer pricing, day-weighted on the average
    balance (DESIGN.md section 4):
        deposits: avg_balance x (ftp_rate - customer_rate) x days / 365
        loans:    avg_balance x (customer_rate - ftp_rate) x days / 365
    The customer rate is the account's own, else its product's; the term is
    the account's, else its product's. NII is rounded to the cent. Monthly
    incremental (macro monthly_incremental).
-#}
{{ monthly_incremental_config() }}
{%- set months = monthly_incremental_months() %}

with

balances as (

    select * from {{ ref('stg_core_banking__balances') }}
    where {{ monthly_incremental_filter('balance_month', months) }}

),

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

products as (

    select * from {{ ref('int_reference__products') }}

),

bands as (

    select * from {{ ref('int_reference__ftp_matched_maturity') }}

),

account_months as (

    select
        balances.account_id,
        accounts.customer_id,
        accounts.product_code,
        accounts.branch_code,
        coalesce(products.family, 'unknown') as product_family,
        balances.balance_month as month_start,
        balances.avg_balance,
        balances.end_balance,
        balances.days,
        coalesce(accounts.interest_rate, products.customer_rate, 0)::numeric(8, 5)
            as customer_rate,
        coalesce(accounts.term_months, products.term_months, 0) as term_months
    from balances
    inner join accounts
        on balances.account_id = accounts.account_id
    left join products
        on accounts.product_code = products.product_code

),

priced as (

    select
        account_months.*,
        bands.ftp_rate::numeric(8, 5) as ftp_rate
    from account_months
    left join bands
        on {{ ftp_matched_maturity_join(
            'bands', 'account_months.month_start', 'account_months.term_months'
        ) }}

),

final as (

    select
        priced.*,
        round(
            case priced.product_family
                when 'deposit'
                    then priced.avg_balance * (priced.ftp_rate - priced.customer_rate)
                when 'loan'
                    then priced.avg_balance * (priced.customer_rate - priced.ftp_rate)
                else 0
            end * priced.days / 365.0,
            2
        )::numeric(18, 2) as net_interest_income
    from priced

)

select * from final
