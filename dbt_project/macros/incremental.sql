{#-
    incremental_event_config(unique_key, date_column): decides how event-level models
    are built incrementally on each target. Use it as `{{ config(**incremental_event_config(...)) }}`.
    - duckdb / redshift: delete+insert on the unique key;
    - athena: merge into an Iceberg table (Hive tables cannot update rows), partitioned by the date column.
    The reprocessed window is `incremental_window(date_column)`.
-#}
{% macro incremental_event_config(unique_key, date_column) -%}
    {{ return(adapter.dispatch('incremental_event_config', 'engagement_warehouse')(unique_key, date_column)) }}
{%- endmacro %}

{% macro default__incremental_event_config(unique_key, date_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'append_new_columns',
    }) }}
{%- endmacro %}

{% macro redshift__incremental_event_config(unique_key, date_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'sort': [date_column],
        'dist': unique_key,
        'on_schema_change': 'append_new_columns',
    }) }}
{%- endmacro %}

{% macro athena__incremental_event_config(unique_key, date_column) -%}
    {{ return({
        'materialized': 'incremental',
        'table_type': 'iceberg',
        'incremental_strategy': 'merge',
        'unique_key': unique_key,
        'partitioned_by': ['day(' ~ date_column ~ ')'],
        'on_schema_change': 'append_new_columns',
    }) }}
{%- endmacro %}

{#-
    incremental_window(column): the predicate selecting the rows an event model (re)builds.
    Always bounded above by the end of the as_of day; on incremental runs also bounded below by
    as_of - lookback_days, so late and duplicate events within the lookback are reprocessed.
-#}
{% macro incremental_window(column) -%}
    {{ column }} < {{ as_of_end() }}
    {%- if is_incremental() %}
    and {{ column }} >= {{ incremental_window_start() }}
    {%- endif %}
{%- endmacro %}

{#- incremental_window_start(): the first instant an incremental run reprocesses (as_of - lookback_days). -#}
{% macro incremental_window_start() -%}
    cast({{ days_before_as_of(var('lookback_days')) }} as timestamp)
{%- endmacro %}

{#-
    delete_incremental_window(date_column): a pre-hook for models rebuilt by whole days. On an incremental
    run it deletes the days of the reprocessed window (as_of - lookback_days to as_of), which the run then
    writes again, so a group with no events left in the window is not kept. Nothing on a full build.
-#}
{% macro delete_incremental_window(date_column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ date_column }} >= {{ days_before_as_of(var('lookback_days')) }}
        and {{ date_column }} <= {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}
