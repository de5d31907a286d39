with

events as (

    select * from {{ ref('int_clickstream_events_stitched') }}

),

order_items as (

    select * from {{ ref('int_order_items') }}

),

browsing_events as (

    select
        resolved_user_id as user_id,
        product_id,
        category,
        event_name,
        event_at
    from events
    where resolved_user_id is not null
        and product_id is not null
        and event_name in ('Product Viewed', 'Product Added')

),

purchases as (

    select
        user_id,
        product_id,
        category,
        'Purchased' as event_name,
        ordered_at as event_at
    from order_items
    where user_id is not null

),

product_events as (

    select * from browsing_events
    union all
    select * from purchases

),

aggregated as (

    select
        user_id,
        product_id,
        max(category) as category,
        cast(sum(case when event_name = 'Product Viewed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as view_count,
        cast(sum(case when event_name = 'Product Added' then 1 else 0 end) as {{ dbt.type_bigint() }}) as add_count,
        cast(sum(case when event_name = 'Purchased' then 1 else 0 end) as {{ dbt.type_bigint() }}) as purchase_count,
        min(event_at) as first_interacted_at,
        max(event_at) as last_interacted_at
    from product_events
    group by user_id, product_id

),

final as (

    select
        {{ dbt.concat(['user_id', "'|'", 'product_id']) }} as interaction_key,
        user_id,
        product_id,
        category,
        view_count,
        add_count,
        purchase_count,
        purchase_count > 0 as is_purchased,
        view_count + 3 * add_count + 5 * purchase_count as interaction_score,
        first_interacted_at,
        last_interacted_at
    from aggregated

)

select * from final
