with

accounts as (

    select * from {{ ref('stg_core_banking__accounts') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

branches as (

    select * from {{ ref('dim_branch') }}

),

final as (

    select
        ---------- ids
        accounts.account_id,
        accounts.customer_id,
        accounts.product_code,

        ---------- attributes
        products.family as product_family,
        products.category as product_category,
        accounts.account_type,
        accounts.currency,
        coalesce(branches.branch_code, 'UNKNOWN') as branch_code,
        accounts.branch_code as source_branch_code,
        accounts.status,
        accounts.is_open,
        accounts.term_months,

        ---------- numerics
        accounts.interest_rate,
        accounts.principal,

        ---------- dates and timestamps
        accounts.opened_on,
        accounts.maturity_on,
        accounts.closed_on,
        accounts.updated_at

    from accounts
    left join products
        on accounts.product_code = products.product_code
    left join branches
        on
            accounts.branch_code = branches.branch_code
            and not branches.is_unknown_member

)

select * from final
