with

clickstream_events as (

    select * from {{ ref('stg_clickstream__events') }}
    where event_at < {{ as_of_end() }}

),

endpoints as (

    select * from {{ ref('stg_pinpoint__endpoints') }}

),

device_logins as (

    select
        anonymous_id,
        user_id,
        event_at,
        min(event_at) over (partition by anonymous_id) as first_linked_at,
        row_number() over (
            partition by anonymous_id
            order by event_at desc, message_id desc
        ) as recency_rank
    from clickstream_events
    where anonymous_id is not null
        and user_id is not null

),

anonymous_ids as (

    select
        'anonymous_id' as identifier_type,
        anonymous_id as identifier,
        user_id,
        first_linked_at,
        event_at as last_linked_at
    from device_logins
    where recency_rank = 1

),

endpoint_ids as (

    select
        'endpoint_id' as identifier_type,
        endpoint_id as identifier,
        user_id,
        created_at as first_linked_at,
        effective_at as last_linked_at
    from endpoints
    where user_id is not null

),

unioned as (

    select * from anonymous_ids
    union all
    select * from endpoint_ids

),

final as (

    select
        {{ dbt.concat(['identifier_type', "':'", 'identifier']) }} as identity_key,
        identifier_type,
        identifier,
        user_id,
        first_linked_at,
        last_linked_at
    from unioned

)

select * from final
