{#-
    category_affinity_segment(category): the body of a segment_category_affinity_<category> model:
    exported endpoints of users who interacted with products of `category` (views, adds or purchases)
    in the 30 days ending on as_of. One more category = one more one-line model file and its YAML entry.
-#}
{% macro category_affinity_segment(category) -%}
with

exported_endpoints as (

    select * from {{ ref('endpoint_segment_attributes') }}

),

events as (

    select * from {{ ref('int_clickstream_events_stitched') }}
    where resolved_user_id is not null

),

order_items as (

    select * from {{ ref('int_order_items') }}
    where user_id is not null

),

category_users as (

    select resolved_user_id as user_id
    from events
    where category = lower('{{ category }}')
        and event_name in ('Product Viewed', 'Product Added')
        and event_date >= {{ days_before_as_of(29) }}

    union

    select user_id
    from order_items
    where category = lower('{{ category }}')
        and ordered_at >= cast({{ days_before_as_of(29) }} as timestamp)

),

final as (

    select
        exported_endpoints.endpoint_id,
        exported_endpoints.user_id
    from exported_endpoints
    inner join category_users
        on exported_endpoints.user_id = category_users.user_id

)

select * from final
{%- endmacro %}
