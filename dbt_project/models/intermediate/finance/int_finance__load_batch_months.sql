{#-
    The ledger of what each committed load batch changed, month by month: one
    row per batch and month its raw rows touch (a batch that touches no month
    has one row with a null month), read once per batch from the raw table
    (BRIN index on `_batch_id`). Monthly incremental models
    (macro monthly_incremental) rebuild the months of the rows recorded since
    they were last built; `recorded_at` is the dbt run that recorded a row.

    Facts and events touch the month of their date; an entity's new version
    (customer, account, card, RM, assignment, campaign, policy) touches the
    month of its change and every later month (`onwards`); a policy or
    RM-assignment version touches its start month (onwards for an
    assignment) only when it is the first or changes what is booked from it; a reference extract whose
    checksum differs from the previous delivery of the same table touches
    every month. The months are computed as the models compute them
    (`date_trunc('month', ...)` in the session time zone).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['recorded_at']}, {'columns': ['batch_id']}],
    )
}}

with

load_batches as (

    select * from {{ source('ops', 'load_batches') }}

),

batches as (

    select
        load_batches.batch_id,
        replace(load_batches.target_table, 'raw.', '') as source_table,
        load_batches.rows_checksum,
        lag(load_batches.rows_checksum) over (
            partition by load_batches.target_table
            order by load_batches.batch_id asc
        ) as previous_checksum
    from load_batches
    where load_batches.status = 'committed'

),

new_batches as (

    select batches.*
    from batches
    {% if is_incremental() %}
        where batches.batch_id not in (select held.batch_id from {{ this }} as held)
    {% endif %}

),

{%- set dated = [
    ('core_banking', 'transactions', 'txn_ts', false),
    ('core_banking', 'balances', 'balance_month', false),
    ('core_banking', 'loan_status', 'status_month', false),
    ('core_banking', 'customers', 'updated_at', true),
    ('core_banking', 'accounts', 'updated_at', true),
    ('cards', 'cards', 'updated_at', true),
    ('cards', 'card_transactions', 'txn_ts', false),
    ('cards', 'annual_fees', 'fee_date', false),
    ('crm', 'relationship_managers', 'updated_at', true),
    ('crm', 'rm_assignments', 'valid_to', true),
    ('crm', 'rm_assignments', 'updated_at', true),
    ('crm', 'interactions', 'interaction_ts', false),
    ('crm', 'campaigns', 'start_date', true),
    ('crm', 'campaign_responses', 'contacted_at', false),
    ('crm', 'campaign_responses', 'responded_at', false),
    ('service', 'complaints', 'opened_at', false),
    ('service', 'complaints', 'closed_at', false),
    ('service', 'surveys', 'surveyed_at', false),
    ('wealth', 'wealth_holdings', 'as_of_date', false),
    ('wealth', 'wealth_subscriptions', 'trade_date', false),
    ('wealth', 'insurance_policies', 'renewed_on', false),
    ('wealth', 'insurance_policies', 'updated_at', true),
] %}

touched as (

    {% for system, entity, column, onwards in dated %}
        {% if not loop.first %}union all{% endif %}

        select distinct
            raw_rows._batch_id as batch_id,
            '{{ system }}__{{ entity }}' as source_table,
            date_trunc('month', raw_rows.{{ column }})::date as month_start,
            {{ onwards }} as is_onwards
        from {{ source_or_empty(system, entity) }} as raw_rows
        where
            raw_rows.{{ column }} is not null
            {% if is_incremental() %}
                and raw_rows._batch_id >= (
                    select coalesce(min(new_batches.batch_id), 0) as first_batch_id
                    from new_batches
                )
                and raw_rows._batch_id in (select new_batches.batch_id from new_batches)
            {% endif %}
    {% endfor %}

    union all

{%- set versioned = [
    ('wealth', 'insurance_policies', 'policy_id', 'start_date', false,
        ['customer_id', 'product_code', 'start_date', 'annual_premium', 'commission_rate']),
    ('crm', 'rm_assignments', 'assignment_id', 'valid_from', true,
        ['customer_id', 'rm_id', 'valid_from']),
] %}
    {% for system, entity, key, column, onwards, compared in versioned %}
        -- {{ entity }}: the month of {{ column }} when the version is the first
        -- or changes what is booked from it ({{ compared | join(', ') }})
        select distinct
            versions._batch_id as batch_id,
            '{{ system }}__{{ entity }}' as source_table,
            date_trunc('month', versions.{{ column }})::date as month_start,
            {{ onwards }} as is_onwards
        from {{ source_or_empty(system, entity) }} as versions
        {% if is_incremental() %}
            left join lateral (
                select earlier.{{ compared | join(', earlier.') }}
                from {{ source_or_empty(system, entity) }} as earlier
                where
                    earlier.{{ key }} = versions.{{ key }}
                    and earlier._batch_id < versions._batch_id
                order by earlier._batch_id desc, earlier._source_row desc nulls last
                limit 1
            ) as previous on true
        {% endif %}
        where
            versions.{{ column }} is not null
            {% if is_incremental() %}
                and versions._batch_id >= (
                    select coalesce(min(new_batches.batch_id), 0) as first_batch_id
                    from new_batches
                )
                and versions._batch_id in (select new_batches.batch_id from new_batches)
                and (
                    previous.{{ column }} is null
                    or (previous.{{ compared | join(', previous.') }})
                    is distinct from (versions.{{ compared | join(', versions.') }})
                )
            {% endif %}

        union all
    {% endfor %}

    -- a reference extract that differs from the previous one: every month
    select
        new_batches.batch_id,
        new_batches.source_table,
        '0001-01-01'::date as month_start,
        true as is_onwards
    from new_batches
    where
        new_batches.source_table like 'reference\_\_%'
        and new_batches.rows_checksum is distinct from new_batches.previous_checksum

),

final as (

    select distinct
        new_batches.batch_id,
        new_batches.source_table,
        touched.month_start,
        coalesce(touched.is_onwards, false) as is_onwards,
        '{{ monthly_incremental_run_stamp() }}'::timestamptz as recorded_at
    from new_batches
    left join touched
        on
            new_batches.batch_id = touched.batch_id
            and new_batches.source_table = touched.source_table

)

select * from final
