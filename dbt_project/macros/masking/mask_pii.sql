{#-
    Masking of personal data for BI (the columns marked `pii` in the source
    contracts). Each macro renders a SQL expression over `column`; null stays
    null, and a value too short to keep its visible part is masked whole.
-#}

{#- Name: the first character (the family name in Chinese order) kept, every other '*'. -#}
{% macro mask_full_name(column) -%}
    case
        when {{ column }} is null then null
        else left({{ column }}, 1) || repeat('*', greatest(length({{ column }}) - 1, 1))
    end
{%- endmacro %}

{#- National id (GB 11643 id or USCC): the first 6 and last 2 characters kept, the rest '*'. -#}
{% macro mask_national_id(column) -%}
    case
        when {{ column }} is null then null
        when length({{ column }}) > 8
            then left({{ column }}, 6)
            || repeat('*', length({{ column }}) - 8)
            || right({{ column }}, 2)
        else repeat('*', length({{ column }}))
    end
{%- endmacro %}

{#- Mobile number: the first 3 and last 4 characters kept, the rest '*'. -#}
{% macro mask_mobile(column) -%}
    case
        when {{ column }} is null then null
        when length({{ column }}) > 7
            then left({{ column }}, 3)
            || repeat('*', length({{ column }}) - 7)
            || right({{ column }}, 4)
        else repeat('*', length({{ column }}))
    end
{%- endmacro %}
