{#-
    Post-hook for versioned models: (re)create a view under the stable, unversioned name
    (e.g. marts.endpoint_segment_attributes -> marts.endpoint_segment_attributes_v1) when the model being
    built is the latest version. The exporter and BI query the stable name; a breaking change ships as _v2
    and moves the view when latest_version moves. A no-op for unversioned models.
-#}
{% macro create_latest_version_view() -%}
    {%- if model is defined and model.get('version') is not none
          and model.get('latest_version') is not none
          and (model.version | string) == (model.latest_version | string) -%}
        {%- set stable = api.Relation.create(
              database=this.database, schema=this.schema, identifier=model.name, type='view') -%}
        {{ return(adapter.dispatch('create_stable_view', 'engagement_warehouse')(stable, this)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__create_stable_view(stable, versioned) -%}
    create or replace view {{ stable }} as select * from {{ versioned }}
{%- endmacro %}

{#- Late binding: the view survives dbt's drop-and-swap of the versioned table. -#}
{% macro redshift__create_stable_view(stable, versioned) -%}
    create or replace view {{ stable }} as select * from {{ versioned }} with no schema binding
{%- endmacro %}
