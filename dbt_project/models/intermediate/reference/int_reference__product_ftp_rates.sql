{#-
    The matched-maturity FTP rate of every catalogue product for every month
    of the curve: the rate of the curve term at or just above the product's
    term (terms beyond the longest curve term use the longest). Products
    without a term (cards, wealth) are priced as overnight (term 0).
-#}
with

products as (

    select * from {{ ref('int_reference__products') }}

),

bands as (

    select * from {{ ref('int_reference__ftp_matched_maturity') }}

),

months as (

    select distinct bands.curve_month
    from bands

),

final as (

    select
        months.curve_month,
        products.product_code,
        products.term_months,
        bands.term_months as curve_term_months,
        bands.ftp_rate,
        bands.value_source
    from products
    cross join months
    inner join bands
        on {{ ftp_matched_maturity_join('bands', 'months.curve_month', 'products.term_months') }}

)

select * from final
