with

events as (

    select * from {{ ref('int_clickstream_events_stitched') }}

),

order_events as (

    select
        order_id,
        resolved_user_id as user_id,
        anonymous_id,
        message_id,
        event_at,
        revenue,
        cart_id,
        row_number() over (partition by order_id order by event_at, message_id) as order_event_rank
    from events
    where event_name = 'Order Completed'
        and order_id is not null

),

final as (

    select
        order_id,
        user_id,
        anonymous_id,
        message_id,
        event_at as ordered_at,
        cast(event_at as date) as order_date,
        coalesce(revenue, 0) as revenue,
        cart_id
    from order_events
    where order_event_rank = 1

)

select * from final
