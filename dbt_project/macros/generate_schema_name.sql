{#-
    Use a folder's custom schema (staging, intermediate, marts, segments) as-is instead of dbt's default
    `<target_schema>_<custom>`: the exporter, GX and BI read fixed schema names. Models without a custom
    schema land in the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
