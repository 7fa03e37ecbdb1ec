with

source as (

    select * from {{ source_or_empty('reference', 'ftp_curve') }}

),

latest_versions as (

    select
        *,
        {{ latest_version_rank(
            ['curve_month', 'term_months'],
            change_column=none
        ) }} as version_rank
    from source

),

renamed as (

    select
        ---------- ids
        curve_month::date as curve_month,
        term_months::integer as term_months,

        ---------- numerics
        ftp_rate::numeric(8, 5) as ftp_rate,

        ---------- lineage
        _batch_id::bigint as batch_id,
        _loaded_at::timestamptz as loaded_at

    from latest_versions
    where version_rank = 1

)

select * from renamed
