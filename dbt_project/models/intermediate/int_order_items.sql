{#-
    The products of an order live in the JSON array properties.products (Segment's ecommerce spec). JSON
    arrays cannot be unnested the same way on every target, so the first var('max_order_lines') elements
    are read by position; an order whose event has a top-level product_id instead is one line (number 0).
-#}
with

orders as (

    select * from {{ ref('int_orders') }}

),

events as (

    select * from {{ ref('int_clickstream_events_stitched') }}
    where event_name = 'Order Completed'

),

order_events as (

    select
        orders.order_id,
        orders.user_id,
        orders.ordered_at,
        events.product_id,
        events.category,
        events.price,
        events.quantity,
        events.properties
    from orders
    inner join events
        on orders.message_id = events.message_id

),

lines as (

    select
        order_id,
        0 as line_number,
        user_id,
        ordered_at,
        product_id,
        category,
        price,
        coalesce(quantity, 1) as quantity
    from order_events
    where product_id is not null
    {%- for position in range(var('max_order_lines') | int) %}
        {%- set element = 'products[' ~ position ~ ']' %}

        union all

        select
            order_id,
            {{ position + 1 }} as line_number,
            user_id,
            ordered_at,
            {{ json_text('properties', element ~ '.product_id') }} as product_id,
            lower({{ json_text('properties', element ~ '.category') }}) as category,
            {{ safe_number(json_text('properties', element ~ '.price'), dbt.type_float()) }} as price,
            coalesce({{ safe_number(json_text('properties', element ~ '.quantity'), dbt.type_bigint()) }}, 1)
                as quantity
        from order_events
        where {{ json_text('properties', element ~ '.product_id') }} is not null
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat(['order_id', "'|'", dbt.cast('line_number', dbt.type_string())]) }} as order_item_key,
        order_id,
        line_number,
        user_id,
        ordered_at,
        product_id,
        category,
        price,
        quantity
    from lines

)

select * from final
