{#-
    Join condition that picks the matched-maturity FTP rate: the band of
    `int_reference__ftp_matched_maturity` whose curve month is `month_column`
    and whose term range holds `term_column` (a null term counts as 0,
    overnight). Exactly one band matches for each month of the curve:

        inner join {{ ref('int_reference__ftp_matched_maturity') }} as bands
            on {{ ftp_matched_maturity_join('bands', 'balances.balance_month',
                                            'accounts.term_months') }}

    bands:        alias of int_reference__ftp_matched_maturity in the query.
    month_column: expression of the month (first day) to price.
    term_column:  expression of the term in months to price.
-#}
{% macro ftp_matched_maturity_join(bands, month_column, term_column) -%}
    {{ bands }}.curve_month = {{ month_column }}
        and (
            {{ bands }}.min_term_months is null
            or coalesce({{ term_column }}, 0) >= {{ bands }}.min_term_months
        )
        and (
            {{ bands }}.max_term_months is null
            or coalesce({{ term_column }}, 0) <= {{ bands }}.max_term_months
        )
{%- endmacro %}
