{#-
    Project-level override of dbt's is_incremental().

    When var `offline_incremental` is set (true/false) it answers from the var without looking the relation
    up, so that `dbt compile --target redshift|athena --no-introspect --no-populate-cache` can render both
    branches of incremental models with no warehouse connection. Unset (the default), it defers to dbt.
-#}
{% macro is_incremental() -%}
    {%- set offline = var('offline_incremental', none) -%}
    {%- if offline is not none and offline | string | lower in ['true', 'false'] -%}
        {{ return(offline | string | lower == 'true') }}
    {%- else -%}
        {{ return(dbt.is_incremental()) }}
    {%- endif -%}
{%- endmacro %}
