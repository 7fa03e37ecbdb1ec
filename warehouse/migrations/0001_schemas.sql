-- Landing, rejects, operations and ML schemas; dbt owns staging/intermediate/marts.
create schema if not exists raw;
create schema if not exists quarantine;
create schema if not exists ops;
create schema if not exists ml;

comment on schema raw is
'Landing: append-only copies of source rows, tagged with batch and row hash';
comment on schema quarantine is 'Rejected source rows with the rule they broke';
comment on schema ops is 'Load batches, watermarks, data-quality results, run log';
comment on schema ml is 'Model runs, labels and scores written back by the ML stage';

create table if not exists ops.load_batches (
    batch_id bigint generated always as identity primary key,
    source_system text not null,
    source_object text not null,
    target_table text not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    status text not null default 'running'
    check (status in ('running', 'committed', 'failed', 'replaced')),
    rows_received bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    rows_checksum text,
    message text,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    constraint load_batches_counts_balance check (
        status != 'committed' or rows_received = rows_loaded + rows_quarantined
    )
);
create index if not exists load_batches_target_interval
on ops.load_batches (target_table, interval_start, interval_end);

create table if not exists ops.watermarks (
    source_system text not null,
    source_object text not null,
    watermark_column text not null,
    watermark_value text,
    batch_id bigint references ops.load_batches (batch_id),
    updated_at timestamptz not null default now(),
    primary key (source_system, source_object)
);

create table if not exists ops.dq_results (
    result_id bigint generated always as identity primary key,
    run_id text not null,
    suite_name text not null,
    target_table text not null,
    success boolean not null,
    evaluated_expectations integer not null,
    successful_expectations integer not null,
    failed_expectations text[] not null default '{}',
    result jsonb not null,
    checked_at timestamptz not null default now()
);
create index if not exists dq_results_suite_time on ops.dq_results (suite_name, checked_at desc);

create table if not exists ops.run_log (
    run_id text not null,
    dag_id text not null,
    step text not null,
    detail jsonb not null default '{}',
    logged_at timestamptz not null default now(),
    primary key (run_id, dag_id, step)
);

create table if not exists ml.model_runs (
    model_run_id bigint generated always as identity primary key,
    model_name text not null,
    model_version text not null,
    as_of_month date not null,
    params jsonb not null default '{}',
    training_window daterange,
    metrics jsonb not null default '{}',
    data_fingerprint text not null,
    rows_scored bigint not null default 0,
    started_at timestamptz not null default now(),
    finished_at timestamptz
);
