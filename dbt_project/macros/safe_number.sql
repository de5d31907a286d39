{#-
    safe_number(expr, type): cast text to a number, null (not an error) when the text is not a number.
    dbt.safe_cast is a plain, raising cast on DuckDB and Redshift, and JSON properties come from
    producers we do not control. `type` is a SQL type such as dbt.type_float() or dbt.type_bigint().
-#}
{% macro safe_number(expr, type) -%}
    {{ return(adapter.dispatch('safe_number', 'engagement_warehouse')(expr, type)) }}
{%- endmacro %}

{% macro default__safe_number(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{% macro redshift__safe_number(expr, type) -%}
    {%- if type | lower in ['bigint', 'integer', 'int', 'smallint', 'int8', 'int4'] -%}
    case when trim({{ expr }}) ~ '^-?[0-9]+$' then cast(trim({{ expr }}) as {{ type }}) end
    {%- else -%}
    case when trim({{ expr }}) ~ '^-?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?$' then cast(trim({{ expr }}) as {{ type }}) end
    {%- endif -%}
{%- endmacro %}
