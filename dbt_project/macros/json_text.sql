{#-
    json_text(column, 'a.b.c'): the scalar at path a.b.c of a JSON text column, as text (null when absent).
    Array elements are addressed as 'products[0].product_id'.
    Staged tables keep nested objects as JSON text so every target reads them the same way.
-#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'engagement_warehouse')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro redshift__json_text(column, path) -%}
    {#- json_extract_path_text walks object keys only: array steps go through json_extract_array_element_text -#}
    {%- set ns = namespace(expr=column, keys=[]) -%}
    {%- for segment in path.split('.') -%}
        {%- if '[' in segment -%}
            {%- set name = segment.split('[')[0] -%}
            {%- set index = segment.split('[')[1].rstrip(']') -%}
            {%- set keys = ns.keys + [name] -%}
            {%- set ns.expr = "json_extract_array_element_text(json_extract_path_text(" ~ ns.expr ~ ", '"
                ~ (keys | join("', '")) ~ "', true), " ~ index ~ ", true)" -%}
            {%- set ns.keys = [] -%}
        {%- else -%}
            {%- set ns.keys = ns.keys + [segment] -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if ns.keys -%}
    nullif(json_extract_path_text({{ ns.expr }}, '{{ ns.keys | join("', '") }}', true), '')
    {%- else -%}
    nullif({{ ns.expr }}, '')
    {%- endif -%}
{%- endmacro %}

{% macro athena__json_text(column, path) -%}
    json_extract_scalar({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#-
    Several scalars of one JSON text column, parsed once: in a CTE select
    `{{ json_texts('properties', paths) }} as property_values`, then read each one with
    `{{ json_text_at('property_values', paths, 'product_id') }}` (same `paths` list). DuckDB extracts every path
    in one pass over the document (a list, about 3x faster than one json_extract_string per path); the other
    targets keep the JSON text and extract each path with json_text().
-#}
{% macro json_texts(column, paths) -%}
    {{ return(adapter.dispatch('json_texts', 'engagement_warehouse')(column, paths)) }}
{%- endmacro %}

{% macro default__json_texts(column, paths) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__json_texts(column, paths) -%}
    json_extract_string({{ column }}, [
        {%- for path in paths %}'$.{{ path }}'{{ ', ' if not loop.last }}{% endfor -%}
    ])
{%- endmacro %}

{% macro json_text_at(values, paths, path) -%}
    {{ return(adapter.dispatch('json_text_at', 'engagement_warehouse')(values, paths, path)) }}
{%- endmacro %}

{% macro default__json_text_at(values, paths, path) -%}
    {{ json_text(values, path) }}
{%- endmacro %}

{% macro duckdb__json_text_at(values, paths, path) -%}
    {%- if path not in paths -%}
        {{ exceptions.raise_compiler_error("json_text_at: '" ~ path ~ "' is not in the paths given to json_texts") }}
    {%- endif -%}
    {{ values }}[{{ paths.index(path) + 1 }}]
{%- endmacro %}
