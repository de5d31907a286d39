with

exported_endpoints as (

    select * from {{ ref('endpoint_segment_attributes') }}

),

events as (

    select * from {{ ref('int_clickstream_events_stitched') }}
    where resolved_user_id is not null

),

orders as (

    select * from {{ ref('int_orders') }}
    where user_id is not null

),

recent_adds as (

    select
        resolved_user_id as user_id,
        max(event_at) as last_added_at
    from events
    where event_name = 'Product Added'
        and event_date >= {{ days_before_as_of(6) }}
    group by resolved_user_id

),

last_orders as (

    select
        user_id,
        max(ordered_at) as last_ordered_at
    from orders
    group by user_id

),

abandoners as (

    -- added to cart in the last 7 days (as_of included) and placed no order since the last add
    select recent_adds.user_id
    from recent_adds
    left join last_orders
        on recent_adds.user_id = last_orders.user_id
    where last_orders.last_ordered_at is null
        or last_orders.last_ordered_at < recent_adds.last_added_at

),

final as (

    select
        exported_endpoints.endpoint_id,
        exported_endpoints.user_id
    from exported_endpoints
    inner join abandoners
        on exported_endpoints.user_id = abandoners.user_id

)

select * from final
