{#-
    The months contribution is measured for: every month for which core
    banking has published balances. Balances of a month arrive after its
    last day, so the month in progress is never here and no measure mixes a
    complete month of fees and costs with a missing month of interest.
-#}
with

balances as (

    select * from {{ ref('stg_core_banking__balances') }}

),

final as (

    select distinct
        balances.balance_month as month_start,
        (balances.balance_month + interval '1 month' - interval '1 day')::date as month_end,
        extract(
            day from balances.balance_month + interval '1 month' - interval '1 day'
        )::integer as days_in_month
    from balances

)

select * from final
