{{ config(**incremental_event_config('message_id', 'event_at')) }}
{#- Each JSON column is parsed once (json_texts), then its scalars are read by path (json_text_at). -#}
{%- set property_paths = [
    'product_id', 'category', 'price', 'revenue', 'total', 'order_id', 'quantity', 'cart_id', 'checkout_id',
    'path', 'session_id'] -%}
{%- set context_paths = ['page.path', 'device.type', 'location.country', 'session_id', 'sessionId', 'traits.email'] -%}

with

source as (

    select * from {{ source('raw', 'clickstream_events') }}
    where {{ incremental_window('event_at') }}

),

repeated_keys as (

    -- messages landed more than once (a re-sent or re-delivered object)
    select message_id
    from source
    group by message_id
    having count(*) > 1

),

deduplicated as (

    {{ deduplicate(
        'source', 'repeated_keys', 'message_id',
        order_by='received_at desc, arrival_hour desc, source_key desc, source_line desc') }}

),

parsed as (

    select
        *,
        {{ json_texts('properties', property_paths) }} as property_values,
        {{ json_texts('context', context_paths) }} as context_values
    from deduplicated

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
        {{ json_text_at('property_values', property_paths, 'product_id') }} as product_id,
        lower({{ json_text_at('property_values', property_paths, 'category') }}) as category,
        {{ safe_number(json_text_at('property_values', property_paths, 'price'), dbt.type_float()) }} as price,
        {{ safe_number(
            'coalesce(' ~ json_text_at('property_values', property_paths, 'revenue') ~ ', '
            ~ json_text_at('property_values', property_paths, 'total') ~ ')',
            dbt.type_float()) }} as revenue,
        {{ json_text_at('property_values', property_paths, 'order_id') }} as order_id,
        {{ safe_number(json_text_at('property_values', property_paths, 'quantity'), dbt.type_bigint()) }} as quantity,
        coalesce(
            {{ json_text_at('property_values', property_paths, 'cart_id') }},
            {{ json_text_at('property_values', property_paths, 'checkout_id') }}
        ) as cart_id,
        coalesce(
            {{ json_text_at('context_values', context_paths, 'page.path') }},
            {{ json_text_at('property_values', property_paths, 'path') }}
        ) as page_path,
        lower({{ json_text_at('context_values', context_paths, 'device.type') }}) as device_type,
        upper({{ json_text_at('context_values', context_paths, 'location.country') }}) as country,
        coalesce(
            {{ json_text_at('context_values', context_paths, 'session_id') }},
            {{ json_text_at('context_values', context_paths, 'sessionId') }},
            {{ json_text_at('property_values', property_paths, 'session_id') }}
        ) as client_session_id,
        coalesce(
            {{ json_text('traits', 'email') }},
            {{ json_text_at('context_values', context_paths, 'traits.email') }}
        ) as email,
        properties,
        source_key,
        source_line,
        arrival_hour
    from parsed

),

final as (

    select * from renamed

)

select * from final
