{#-
    Contribution per segment and closed month, summed from fct_contribution_lines
    (see the macro contribution_rollup); sums over segment equal the customer
    totals of the month.
-#}
{{ contribution_rollup('segment', 'unsegmented') }}
