{#-
    The months contribution is measured for: every month for which core
    banking has published balances. Balances of a month arrive after its
    last day, so the month in progress is never here and no measure mixes a
    complete month of fees and costs with a missing month of interest.
    Read from the load ledger (the months the balances batches touched), so
    the incremental models ask it cheaply which months exist.
-#}
{{ config(materialized='table') }}

with

ledger as (

    select * from {{ ref('int_finance__load_batch_months') }}

),

final as (

    select distinct
        ledger.month_start,
        (ledger.month_start + interval '1 month' - interval '1 day')::date as month_end,
        extract(
            day from ledger.month_start + interval '1 month' - interval '1 day'
        )::integer as days_in_month
    from ledger
    where
        ledger.source_table = 'core_banking__balances'
        and ledger.month_start is not null

)

select * from final
