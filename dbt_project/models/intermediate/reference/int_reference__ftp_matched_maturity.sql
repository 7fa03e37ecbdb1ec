{#-
    Matched-maturity bands of the FTP curve: for each month and curve term,
    the range of product terms (in months) that are priced at that curve
    term's rate. A term is priced at the curve term at or just above it;
    terms beyond the longest curve term use the longest. With curve terms
    t1 < t2 < ... < tn of a month, the band of ti covers terms
    (t(i-1), ti]: from t(i-1) + 1 to ti; the band of t1 has no lower bound
    and the band of tn no upper bound (null). Join on these bands with the
    macro `ftp_matched_maturity_join`.
-#}
with

curve as (

    select * from {{ ref('int_reference__ftp_curve') }}

),

neighbours as (

    select
        curve.curve_month,
        curve.term_months,
        curve.ftp_rate,
        curve.value_source,
        lag(curve.term_months) over (
            partition by curve.curve_month order by curve.term_months
        ) as previous_term_months,
        lead(curve.term_months) over (
            partition by curve.curve_month order by curve.term_months
        ) as next_term_months
    from curve

),

final as (

    select
        neighbours.curve_month,
        neighbours.term_months,
        (neighbours.previous_term_months + 1)::integer as min_term_months,
        case
            when neighbours.next_term_months is not null then neighbours.term_months
        end::integer as max_term_months,
        neighbours.ftp_rate,
        neighbours.value_source
    from neighbours

)

select * from final
