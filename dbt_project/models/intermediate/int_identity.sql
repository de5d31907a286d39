with

device_activity as (

    -- device-days where the device was seen signed in; a later run's days are not this as_of's
    select * from {{ ref('int_device_daily_activity') }}
    where event_date <= {{ as_of_date() }}
        and anonymous_id is not null
        and user_id is not null

),

endpoints as (

    select * from {{ ref('stg_pinpoint__endpoints') }}

),

device_logins as (

    -- the last user per device: the latest signed-in day's latest event (ties broken by message id)
    select
        anonymous_id,
        user_id,
        last_event_at as event_at,
        min(first_event_at) over (partition by anonymous_id) as first_linked_at,
        row_number() over (
            partition by anonymous_id
            order by last_event_at desc, last_message_id desc
        ) as recency_rank
    from device_activity

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
