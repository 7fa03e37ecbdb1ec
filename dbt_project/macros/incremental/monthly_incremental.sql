{#-
    Monthly incremental models: a model with one or more rows per closed
    month (`month_start`) rebuilds, in an incremental run, only the months
    whose inputs changed since it was last built, and a full refresh rebuilds
    them all; both give the same table.

    In the model:

        {{ monthly_incremental_config(trailing_months=12) }}
        {%- set months = monthly_incremental_months() %}
        ...
        from {{ ref('fct_transactions') }} as transactions
        where {{ monthly_incremental_filter('transactions.month_start', months) }}
        ...

    - monthly_incremental_config: materialized incremental; before the insert
      a pre-hook deletes the months being rebuilt, after it a post-hook
      records what the table has seen in its comment (a small JSON);
    - monthly_incremental_months: the months to rebuild in this run (none =
      all, in a full build): closed months (int_finance__closed_months) that
      a load batch recorded since the last build touched
      (int_finance__load_batch_months), directly or through a trailing
      window, plus months closed since then, plus the months a run asks for
      (var refresh_months: the ML DAG asks for the month it labelled);
    - monthly_incremental_filter: the predicate restricting a month column to
      those months (`true` in a full build, `false` when nothing changed),
      optionally widened back by `history_months` for the inputs of a
      trailing window.
-#}

{% macro monthly_incremental_config(trailing_months=1, inputs=none, indexes=none) -%}
{#- the dependencies the hooks and the scope query read, known at parse time
(a unit test renders the model with its fixtures only) -#}
{%- if not (model is defined and model.resource_type == 'unit_test') -%}
{%- set _ledger = ref('int_finance__load_batch_months') -%}
{%- set _months = ref('int_finance__closed_months') -%}
{%- endif -%}
{{- config(
materialized='incremental',
incremental_strategy='append',
on_schema_change='fail',
indexes=(indexes or []) + [{'columns': ['month_start']}],
pre_hook=[
"{{ monthly_incremental_planner() }}",
"{{ monthly_incremental_delete() }}",
],
post_hook=["{{ monthly_incremental_record() }}"],
monthly_trailing_months=trailing_months,
monthly_inputs=inputs,
) -}}
{%- endmacro %}


{% macro monthly_incremental_state() -%}
{#- what the table has seen: {} when it has no (readable) record -#}
{%- set found = run_query(
"select obj_description('" ~ this ~ "'::regclass, 'pg_class')"
) -%}
{%- set text = found.columns[0].values()[0] if found and found.rows | length else none -%}
{%- if text and text.startswith('{"monthly_incremental"') -%}
{{- return(fromjson(text)['monthly_incremental']) -}}
{%- endif -%}
{{- return({}) -}}
{%- endmacro %}


{% macro monthly_incremental_months() -%}
{%- if not execute or (model is defined and model.resource_type == 'unit_test') -%}
{{- return(none) -}}
{%- endif -%}
{%- if not is_incremental() -%}
{{- return(none) -}}
{%- endif -%}
{%- set state = monthly_incremental_state() -%}
{%- set trailing = config.get('monthly_trailing_months', 1) | int -%}
{%- set inputs = config.get('monthly_inputs') -%}
{%- set ledger = ref('int_finance__load_batch_months') -%}
{%- set closed = ref('int_finance__closed_months') -%}
{%- if not state -%}
{#- no record of what the table holds: rebuild every month in place -#}
{%- set query -%}
select month_start from {{ closed }} order by month_start asc
{%- endset -%}
{%- else -%}
{%- set query -%}
with touched as (
select ledger.month_start, ledger.is_onwards
from {{ ledger }} as ledger
where
ledger.recorded_at > '{{ state.recorded_through }}'::timestamptz
and ledger.month_start is not null
{% if inputs %}
and ledger.source_table in (
{%- for name in inputs %}'{{ name }}'{{ ", " if not loop.last }}{% endfor -%}
)
{% endif %}
union all
select closed.month_start, false as is_onwards
from {{ closed }} as closed
where closed.month_start > '{{ state.closed_through }}'::date
{% for asked in var('refresh_months', []) %}
union all
select '{{ asked }}'::date as month_start, false as is_onwards
{% endfor %}
)
select distinct closed.month_start
from {{ closed }} as closed
inner join touched
on
closed.month_start >= touched.month_start
and (
touched.is_onwards
or closed.month_start
< touched.month_start + interval '{{ trailing }} months'
)
order by closed.month_start asc
{%- endset -%}
{%- endif -%}
{%- set found = run_query(query) -%}
{%- set months = [] -%}
{%- for value in found.columns[0].values() -%}
{%- do months.append(value | string) -%}
{%- endfor -%}
{{- return(months) -}}
{%- endmacro %}


{% macro monthly_incremental_filter(column, months, history_months=0) -%}
{%- if months is none -%}
true
{%- elif months | length == 0 -%}
false
{%- elif history_months -%}
{{ column }} >= '{{ months[0] }}'::date - interval '{{ history_months }} months'
and {{ column }} <= '{{ months[-1] }}'::date
{%- else -%}
{{ column }} in (
{%- for month in months %}'{{ month }}'::date{{ ", " if not loop.last }}{% endfor -%}
)
{%- endif -%}
{%- endmacro %}


{% macro monthly_incremental_delete() -%}
{%- set months = monthly_incremental_months() -%}
{%- if months is none or months | length == 0 -%}
select 1 as nothing_to_delete
{%- else -%}
delete from {{ this }} where {{ monthly_incremental_filter('month_start', months) }}
{%- endif -%}
{%- endmacro %}


{% macro monthly_incremental_record() -%}
{%- set closed = ref('int_finance__closed_months') -%}
{%- set months = monthly_incremental_months() -%}
do $record$
begin
execute format(
'comment on table %s is %L',
'{{ this }}',
json_build_object(
'monthly_incremental',
json_build_object(
'recorded_through', '{{ monthly_incremental_run_stamp() }}',
'rebuilt',
{% if months is none -%}
'all'
{%- else -%}
json_build_array({% for month in months %}'{{ month }}'{{ ", " if not loop.last }}{% endfor %})
{%- endif %},
'closed_through',
(select coalesce(max(month_start), '0001-01-01'::date) from {{ closed }})
)
)::text
);
end
$record$
{%- endmacro %}


{% macro monthly_incremental_run_stamp() -%}
{#- when this dbt invocation started: the same in every model and hook of a run -#}
{{- run_started_at if run_started_at is defined else '1970-01-01 00:00:00+00:00' -}}
{%- endmacro %}


{% macro monthly_incremental_planner() -%}
{#- In an incremental run the month lists make the planner expect a row or two
    from the staging views (window functions over raw versions) and pick
    nested loops that rerun them per row (60 s instead of 1 s for one month
    of int_finance__account_months at 10,000 customers): hash joins only,
    for this model's transaction. -#}
{%- if is_incremental() -%}
set local enable_nestloop = off
{%- else -%}
select 1 as planner_unchanged
{%- endif -%}
{%- endmacro %}


{% macro get_where_subquery(relation) -%}
{#- dbt's own (a test's `where` config), plus: a test of an incremental model
    built in part by this same run checks the rows the run wrote only (the
    others were checked when they were written and have not changed) -#}
{%- set conditions = [] -%}
{%- set where = config.get('where', '') -%}
{%- if where -%}
{%- do conditions.append('(' ~ where ~ ')') -%}
{%- endif -%}
{%- set scope = incremental_test_scope(relation) -%}
{%- if scope -%}
{%- do conditions.append(scope) -%}
{%- endif -%}
{%- if conditions -%}
{%- set filtered -%}
(select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
{%- endset -%}
{%- do return(filtered) -%}
{%- endif -%}
{%- do return(relation) -%}
{%- endmacro %}


{% macro incremental_test_scope(relation) -%}
{#- The rows this run wrote when `relation` is an incremental model that this
    run built in part: `month_start in (...)` for a monthly incremental model,
    `batch_id > <newest batch held before>` for a batch incremental one; ''
    otherwise (the whole table is tested) -#}
{%- if not execute or relation is string or relation.identifier is not defined -%}
{{- return('') -}}
{%- endif -%}
{%- set found_nodes = [] -%}
{%- for node in graph.nodes.values()
if node.resource_type == 'model'
and (node.alias or node.name) == relation.identifier
and node.schema == relation.schema -%}
{%- do found_nodes.append(node) -%}
{%- endfor -%}
{%- if found_nodes | length != 1 -%}
{{- return('') -}}
{%- endif -%}
{%- set node_config = found_nodes[0].config -%}
{%- if node_config.get('monthly_trailing_months') is not none -%}
{%- set kind = 'monthly_incremental' -%}
{%- elif node_config.get('batch_incremental') -%}
{%- set kind = 'batch_incremental' -%}
{%- else -%}
{{- return('') -}}
{%- endif -%}
{%- set found = run_query(
"select obj_description(to_regclass('" ~ relation ~ "'), 'pg_class')"
) -%}
{%- set text = found.columns[0].values()[0] if found and found.rows | length else none -%}
{%- if not (text and text.startswith('{"' ~ kind ~ '"')) -%}
{{- return('') -}}
{%- endif -%}
{%- set state = fromjson(text)[kind] -%}
{%- if state.recorded_through != (monthly_incremental_run_stamp() | string) -%}
{{- return('') -}}
{%- endif -%}
{%- if kind == 'batch_incremental' -%}
{{- return('batch_id > ' ~ (state.after_batch | int)) -}}
{%- endif -%}
{%- if state.rebuilt is string -%}
{{- return('') -}}
{%- endif -%}
{{- return(monthly_incremental_filter('month_start', state.rebuilt)) -}}
{%- endmacro %}


{% macro monthly_incremental_held_contribution(months, key_column, key_type, history_months=11) -%}
{#- The contribution this table already holds for the months of a trailing
    window before the months rebuilt (`is_rebuilt` false), as the window's
    earlier rows; an empty typed relation in a full build. -#}
{%- if months %}
select
    held.{{ key_column }},
    held.month_start,
    held.contribution,
    false as is_rebuilt
from {{ this }} as held
where
    {{ monthly_incremental_filter('held.month_start', months, history_months=history_months) }}
    and not {{ monthly_incremental_filter('held.month_start', months) }}
{%- else %}
select
    null::{{ key_type }} as {{ key_column }},
    null::date as month_start,
    null::numeric(18, 2) as contribution,
    false as is_rebuilt
where false
{%- endif %}
{%- endmacro %}
