-- Segment labels written back by the ML stage, one row per customer, month and model version.
create table if not exists ml.customer_segments (
    customer_id bigint not null,
    as_of_month date not null,
    model_version text not null,
    segment_id integer not null,
    segment_name text not null,
    model_run_id bigint not null references ml.model_runs (model_run_id),
    labelled_at timestamptz not null default now(),
    primary key (customer_id, as_of_month, model_version)
);

-- The current label of each customer: latest month, then latest run.
create or replace view ml.current_customer_segments as
select distinct on (s.customer_id)
    s.customer_id,
    s.as_of_month,
    s.model_version,
    s.segment_id,
    s.segment_name,
    s.model_run_id
from ml.customer_segments as s
order by s.customer_id asc, s.as_of_month desc, s.model_run_id desc;
