{{ config(**incremental_event_config('message_id', 'event_at')) }}

with

source as (

    select * from {{ source('raw', 'clickstream_events') }}
    where {{ incremental_window('event_at') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by message_id
            order by received_at desc, arrival_hour desc, source_key desc, source_line desc
        ) as landing_rank
    from source

),

deduplicated as (

    select * from ranked
    where landing_rank = 1

),

renamed as (

    select
        message_id,
        type as event_type,
        event as event_name,
        name as page_name,
        anonymous_id,
        user_id,
        event_at,
        cast(event_at as date) as event_date,
        original_timestamp as original_at,
        sent_at,
        received_at,
        {{ json_text('properties', 'product_id') }} as product_id,
        lower({{ json_text('properties', 'category') }}) as category,
        {{ safe_number(json_text('properties', 'price'), dbt.type_float()) }} as price,
        {{ safe_number(
            'coalesce(' ~ json_text('properties', 'revenue') ~ ', ' ~ json_text('properties', 'total') ~ ')',
            dbt.type_float()) }} as revenue,
        {{ json_text('properties', 'order_id') }} as order_id,
        {{ safe_number(json_text('properties', 'quantity'), dbt.type_bigint()) }} as quantity,
        coalesce({{ json_text('properties', 'cart_id') }}, {{ json_text('properties', 'checkout_id') }}) as cart_id,
        coalesce({{ json_text('context', 'page.path') }}, {{ json_text('properties', 'path') }}) as page_path,
        lower({{ json_text('context', 'device.type') }}) as device_type,
        upper({{ json_text('context', 'location.country') }}) as country,
        coalesce(
            {{ json_text('context', 'session_id') }},
            {{ json_text('context', 'sessionId') }},
            {{ json_text('properties', 'session_id') }}
        ) as client_session_id,
        coalesce({{ json_text('traits', 'email') }}, {{ json_text('context', 'traits.email') }}) as email,
        properties,
        source_key,
        source_line,
        arrival_hour
    from deduplicated

),

final as (

    select * from renamed

)

select * from final
