{#-
    Contribution per rm_id and closed month, summed from fct_contribution_lines
    (see the macro contribution_rollup); sums over rm_id equal the customer
    totals of the month.
-#}
{{ contribution_rollup('rm_id', 'UNASSIGNED') }}
