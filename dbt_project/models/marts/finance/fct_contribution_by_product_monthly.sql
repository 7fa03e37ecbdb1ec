{#-
    Contribution per product_code and closed month, summed from fct_contribution_lines
    (see the macro contribution_rollup); sums over product_code equal the customer
    totals of the month.
-#}
{{ contribution_rollup('product_code', 'CUSTOMER_LEVEL') }}
