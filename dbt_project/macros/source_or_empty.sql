{#-
    A staging model's source relation, or an empty relation of the same shape
    when the raw table does not exist. A bank delivers only part of the source
    systems (`ingest/config/banks.yml`: Berka has no CRM, service, wealth
    holdings...), and the raw table of an entity it does not deliver is never
    created; every staging model must still build, empty, with the columns and
    types declared for its source, so that the layers above are bank-agnostic.

    - at parse time (`execute` is false) and in unit tests (the source is a
      fixture CTE) it is exactly `source(source_name, table_name)`, so lineage,
      docs and unit-test fixtures are unchanged;
    - when the raw table exists, the source relation;
    - otherwise `(select null::<data_type> as <column>, ... where false)`, from
      the columns declared, with their `data_type`, on the source table in the
      sources YAML (every column must declare one).

    source_name: the source's name (the source system, e.g. `crm`).
    table_name:  the source table's name (the entity, e.g. `interactions`).
-#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if relation.is_cte or not execute -%}
        {{- return(relation) -}}
    {%- endif -%}

    {%- set existing = adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier
    ) -%}
    {%- if existing is not none -%}
        {{- return(relation) -}}
    {%- endif -%}

    {%- set declared = [] -%}
    {%- for node in graph.sources.values()
        if node.source_name == source_name and node.name == table_name -%}
        {%- do declared.append(node) -%}
    {%- endfor -%}
    {%- if declared | length != 1 -%}
        {{- exceptions.raise_compiler_error(
            "source_or_empty: no single source table " ~ source_name ~ "." ~ table_name
        ) -}}
    {%- endif -%}

    {%- set columns = [] -%}
    {%- for column in declared[0].columns.values() -%}
        {%- if not column.data_type -%}
            {{- exceptions.raise_compiler_error(
                "source_or_empty: column " ~ column.name ~ " of source " ~ source_name
                ~ "." ~ table_name ~ " declares no data_type"
            ) -}}
        {%- endif -%}
        {%- do columns.append("null::" ~ column.data_type ~ " as " ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{- exceptions.raise_compiler_error(
            "source_or_empty: source " ~ source_name ~ "." ~ table_name ~ " declares no columns"
        ) -}}
    {%- endif -%}

    {%- do log(
        "source_or_empty: " ~ relation ~ " does not exist, reading it as an empty relation",
        info=false
    ) -%}
    {{- return("(select " ~ columns | join(", ") ~ " where false)") -}}
{%- endmacro %}
