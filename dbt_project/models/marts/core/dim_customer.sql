{#-
    Customer dimension with history (SCD type 2), rebuilt from every version
    core banking delivered to raw (int_customers__versions): version n is
    valid from its updated_at to the next version's updated_at (valid_to, null
    for the current version). Personal data is masked; the address and the
    birth date are not here (the age band is).
-#}
with

versions as (

    select * from {{ ref('int_customers__versions') }}

),

branches as (

    select * from {{ ref('dim_branch') }}

),

calendar as (

    select * from {{ ref('int_reference__calendar_bounds') }}

),

versioned as (

    select
        versions.*,
        row_number() over (
            partition by versions.customer_id
            order by versions.updated_at
        ) as version_number,
        versions.updated_at as valid_from,
        lead(versions.updated_at) over (
            partition by versions.customer_id
            order by versions.updated_at
        ) as valid_to
    from versions

),

-- Age and tenure are taken at the end of the version: the day its successor came,
-- or, for the current version, the latest day of data.
dated as (

    select
        versioned.*,
        least(
            coalesce((versioned.valid_to at time zone 'UTC')::date, calendar.as_of_date),
            calendar.as_of_date
        ) as age_tenure_as_of
    from versioned
    cross join calendar

),

measured as (

    select
        dated.*,
        extract(year from age(dated.age_tenure_as_of, dated.birth_date))::integer as age_years,
        greatest(
            extract(
                year from age(least(dated.age_tenure_as_of, dated.closed_on), dated.joined_on)
            ) * 12
            + extract(
                month from age(least(dated.age_tenure_as_of, dated.closed_on), dated.joined_on)
            ),
            0
        )::integer as tenure_months
    from dated

),

final as (

    select
        ---------- ids
        measured.customer_id::text || '-' || measured.version_number::text
            as customer_version_key,
        measured.customer_id,
        measured.version_number::integer as version_number,

        ---------- masked personal data
        {{ mask_full_name('measured.full_name') }} as full_name_masked,
        {{ mask_national_id('measured.national_id') }} as national_id_masked,
        {{ mask_mobile('measured.mobile') }} as mobile_masked,

        ---------- attributes
        measured.customer_type,
        measured.gender,
        case
            when measured.age_years is null then null
            when measured.age_years < 25 then '<25'
            when measured.age_years < 35 then '25-34'
            when measured.age_years < 45 then '35-44'
            when measured.age_years < 55 then '45-54'
            when measured.age_years < 65 then '55-64'
            else '65+'
        end as age_band,
        measured.occupation,
        measured.city,
        coalesce(branches.branch_code, 'UNKNOWN') as branch_code,
        measured.branch_code as source_branch_code,
        measured.status,
        measured.joined_on,
        measured.closed_on,
        measured.tenure_months,
        case
            when measured.tenure_months is null then null
            when measured.tenure_months < 12 then '<1y'
            when measured.tenure_months < 36 then '1-3y'
            when measured.tenure_months < 60 then '3-5y'
            when measured.tenure_months < 120 then '5-10y'
            else '10y+'
        end as tenure_band,
        measured.age_tenure_as_of,

        ---------- history
        measured.valid_from,
        measured.valid_to,
        measured.valid_to is null as is_current,

        ---------- lineage
        measured.batch_id

    from measured
    left join branches
        on
            measured.branch_code = branches.branch_code
            and not branches.is_unknown_member

)

select * from final
