{#-
    The build's reference point. Every window in the project is relative to var('as_of') (the Airflow
    logical date), never to the wall clock, so a rerun for the same date builds the same result.
    as_of_date(): the as_of day as a date. as_of_end(): the first instant AFTER the as_of day (exclusive
    upper bound for timestamps). days_before_as_of(n): the date n days before as_of.
-#}
{% macro as_of_date() -%}
    cast('{{ var("as_of") }}' as date)
{%- endmacro %}

{% macro as_of_end() -%}
    {{ dbt.dateadd('day', 1, "cast('" ~ var('as_of') ~ "' as timestamp)") }}
{%- endmacro %}

{% macro days_before_as_of(n) -%}
    cast({{ dbt.dateadd('day', -1 * (n | int), as_of_date()) }} as date)
{%- endmacro %}

{#- Whole days from the date of `ts_or_date` to as_of (0 = on the as_of day). -#}
{% macro days_to_as_of(ts_or_date) -%}
    {{ dbt.datediff('cast(' ~ ts_or_date ~ ' as date)', as_of_date(), 'day') }}
{%- endmacro %}
