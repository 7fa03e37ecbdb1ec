{#-
    Fails for every combination of `columns` that occurs on more than one row
    (a composite primary key). Rows with nulls in the key are grouped like any
    other value: test the key columns with not_null as well.
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
