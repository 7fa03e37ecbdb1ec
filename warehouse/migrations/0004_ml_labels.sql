-- Labels and scores the ML stage writes back, one row per customer (or account), as-of
-- month and model version; a `current_*` view per label holds each customer's latest
-- (latest month, then latest run). The column lists are the `ml` source contract of the
-- dbt project (dbt_project/models/staging/ml/_ml__sources.yml).

alter table ml.customer_segments
add column if not exists recency_score smallint,
add column if not exists frequency_score smallint,
add column if not exists monetary_score smallint,
add column if not exists rfm_segment text;

comment on column ml.customer_segments.rfm_segment is
'RFM segment by fixed precedence over the recency, frequency and monetary quintile scores';

create or replace view ml.current_customer_segments as
select distinct on (s.customer_id)
    s.customer_id,
    s.as_of_month,
    s.model_version,
    s.segment_id,
    s.segment_name,
    s.model_run_id,
    s.recency_score,
    s.frequency_score,
    s.monetary_score,
    s.rfm_segment
from ml.customer_segments as s
order by s.customer_id asc, s.as_of_month desc, s.model_run_id desc;

create table if not exists ml.customer_lifecycle (
    customer_id bigint not null,
    as_of_month date not null,
    model_version text not null,
    lifecycle_stage text not null check (
        lifecycle_stage in (
            'prospect', 'new', 'growth', 'mature', 'decline', 'dormant', 'churned'
        )
    ),
    churn_probability double precision check (churn_probability between 0 and 1),
    probability_alive double precision check (probability_alive between 0 and 1),
    expected_transactions double precision check (expected_transactions >= 0),
    model_run_id bigint not null references ml.model_runs (model_run_id),
    labelled_at timestamptz not null default now(),
    primary key (customer_id, as_of_month, model_version)
);

create or replace view ml.current_customer_lifecycle as
select distinct on (l.customer_id)
    l.customer_id,
    l.as_of_month,
    l.model_version,
    l.lifecycle_stage,
    l.churn_probability,
    l.probability_alive,
    l.expected_transactions,
    l.model_run_id
from ml.customer_lifecycle as l
order by l.customer_id asc, l.as_of_month desc, l.model_run_id desc;

create table if not exists ml.customer_propensity (
    customer_id bigint not null,
    as_of_month date not null,
    model_version text not null,
    -- null where the bank sells no wealth products (no one to learn from)
    wealth_propensity double precision check (wealth_propensity between 0 and 1),
    wealth_rule_id integer,
    next_best_product text,
    next_best_confidence double precision,
    model_run_id bigint not null references ml.model_runs (model_run_id),
    labelled_at timestamptz not null default now(),
    primary key (customer_id, as_of_month, model_version)
);

create or replace view ml.current_customer_propensity as
select distinct on (p.customer_id)
    p.customer_id,
    p.as_of_month,
    p.model_version,
    p.wealth_propensity,
    p.next_best_product,
    p.model_run_id
from ml.customer_propensity as p
order by p.customer_id asc, p.as_of_month desc, p.model_run_id desc;

create table if not exists ml.propensity_rules (
    model_run_id bigint not null references ml.model_runs (model_run_id),
    rule_id integer not null,
    as_of_month date not null,
    model_version text not null,
    rule_text text not null,
    conditions jsonb not null,
    prediction text not null,
    rule_support double precision not null,
    confidence double precision not null,
    samples integer not null,
    primary key (model_run_id, rule_id)
);

create table if not exists ml.anomaly_alerts (
    account_id bigint not null,
    customer_id bigint,
    alert_date date not null,
    as_of_month date not null,
    model_version text not null,
    anomaly_score double precision not null,
    reason text not null,
    model_run_id bigint not null references ml.model_runs (model_run_id),
    labelled_at timestamptz not null default now(),
    primary key (account_id, alert_date, model_version)
);

-- Each account-day's alert from the latest run that scored it.
create or replace view ml.current_anomaly_alerts as
select distinct on (a.account_id, a.alert_date)
    a.account_id,
    a.customer_id,
    a.alert_date,
    a.anomaly_score,
    a.reason,
    a.model_version,
    a.model_run_id
from ml.anomaly_alerts as a
order by a.account_id asc, a.alert_date asc, a.model_run_id desc;

create table if not exists ml.monitoring (
    model_run_id bigint not null references ml.model_runs (model_run_id),
    check_name text not null,
    subject text not null,
    metric_value double precision not null,
    alert_limit double precision not null,
    is_alert boolean not null,
    primary key (model_run_id, check_name, subject)
);
