{#-
    Survey results per month surveyed (UTC) and touchpoint, plus one row per
    month with touchpoint 'all' (every touchpoint together): average
    satisfaction (1-5) and NPS = % promoters (9-10) - % detractors (0-6), in
    points from -100 to 100.
-#}
with

surveys as (

    select * from {{ ref('stg_service__surveys') }}

),

dated as (

    select
        date_trunc('month', surveys.surveyed_at at time zone 'UTC')::date as month_start,
        surveys.touchpoint,
        surveys.satisfaction,
        surveys.nps
    from surveys

),

-- Every survey counts once under its touchpoint and once under 'all'.
tagged as (

    select
        dated.month_start,
        dated.touchpoint,
        dated.satisfaction,
        dated.nps
    from dated

    union all

    select
        dated.month_start,
        'all' as touchpoint,
        dated.satisfaction,
        dated.nps
    from dated

),

counted as (

    select
        tagged.month_start,
        tagged.touchpoint,
        count(*) as surveys,
        avg(tagged.satisfaction) as avg_satisfaction,
        count(*) filter (where tagged.nps >= 9) as promoters,
        count(*) filter (where tagged.nps between 7 and 8) as passives,
        count(*) filter (where tagged.nps <= 6) as detractors
    from tagged
    group by tagged.month_start, tagged.touchpoint

),

final as (

    select
        counted.month_start,
        counted.touchpoint,
        counted.surveys::integer as surveys,
        counted.avg_satisfaction::numeric(5, 2) as avg_satisfaction,
        counted.promoters::integer as promoters,
        counted.passives::integer as passives,
        counted.detractors::integer as detractors,
        (counted.promoters::numeric / counted.surveys)::numeric(7, 4) as promoter_share,
        (counted.detractors::numeric / counted.surveys)::numeric(7, 4) as detractor_share,
        (
            100.0 * (counted.promoters - counted.detractors) / counted.surveys
        )::numeric(6, 2) as nps
    from counted

)

select * from final
