-- Ingestion bookkeeping: extraction windows, schema drift, quarantine, HTTP checkpoints.
alter table ops.load_batches
add column if not exists extract_from text,
add column if not exists extract_to text,
add column if not exists schema_drift jsonb,
add column if not exists watermark_value text;

comment on column ops.load_batches.extract_from is
'Lower bound of the watermark window extracted (null: from the beginning)';
comment on column ops.load_batches.schema_drift is
'Columns the source added (kept in _extra) or left out (nullable only)';

create index if not exists load_batches_running
on ops.load_batches (target_table) where status = 'running';

create table if not exists quarantine.rejected_rows (
    rejected_id bigint generated always as identity primary key,
    batch_id bigint not null references ops.load_batches (batch_id),
    source_system text not null,
    source_object text not null,
    target_table text not null,
    row_number bigint,
    record_key text,
    rule text not null check (  -- noqa: RF04
        rule in (
            'malformed_line', 'wrong_type', 'required_missing', 'duplicate_key',
            'orphan_reference', 'future_date', 'invalid_encoding'
        )
    ),
    column_name text,
    message text not null,
    raw_content text,
    quarantined_at timestamptz not null default now()
);
create index if not exists rejected_rows_batch on quarantine.rejected_rows (batch_id);
comment on table quarantine.rejected_rows is
'Source rows refused at the door, with the rule they broke; row_number is the 1-based '
'physical line of a text file, or the row index for other sources';

create table if not exists ops.extract_checkpoints (
    target_table text not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    page_number integer not null,
    page_cursor text,
    next_cursor text,
    rows jsonb not null,  -- noqa: RF04
    fetched_at timestamptz not null default now(),
    primary key (target_table, interval_start, interval_end, page_number)
);
comment on table ops.extract_checkpoints is
'Pages of an HTTP extraction kept until their batch commits, so a re-run resumes from the '
'last cursor instead of starting over';
