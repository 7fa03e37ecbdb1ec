{#-
    Contribution per branch_code and closed month, summed from fct_contribution_lines
    (see the macro contribution_rollup); sums over branch_code equal the customer
    totals of the month.
-#}
{{ contribution_rollup('branch_code', 'UNKNOWN') }}
