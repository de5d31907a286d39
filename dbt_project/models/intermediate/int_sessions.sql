{%- set gap_minutes = var('session_gap_minutes') | int -%}
{%- set max_seconds = (var('session_max_hours') | int) * 3600 -%}

with

events as (

    select
        anonymous_id,
        client_session_id,
        message_id,
        event_at,
        resolved_user_id,
        event_type,
        event_name,
        device_type,
        country
    from {{ ref('int_clickstream_events_stitched') }}
    where anonymous_id is not null

),

ordered as (

    -- events with a client session id are ordered within that session; the others per device
    select
        *,
        lag(event_at) over (
            partition by anonymous_id, client_session_id
            order by event_at, message_id
        ) as previous_event_at
    from events

),

flagged as (

    -- a gap of exactly session_gap_minutes stays in the same session
    select
        *,
        case
            when previous_event_at is null then 1
            when client_session_id is not null then 0
            when event_at > {{ dbt.dateadd('minute', gap_minutes, 'previous_event_at') }} then 1
            else 0
        end as is_session_start
    from ordered

),

numbered as (

    -- both running over the same ordering, so one sort: the group's number and its first event's time
    select
        *,
        sum(is_session_start) over (
            partition by anonymous_id, client_session_id
            order by event_at, message_id
            rows between unbounded preceding and current row
        ) as session_number,
        max(case when is_session_start = 1 then event_at end) over (
            partition by anonymous_id, client_session_id
            order by event_at, message_id
            rows between unbounded preceding and current row
        ) as group_started_at
    from flagged

),

capped as (

    -- cut every session_max_hours from the group's first event; the pieces are flagged as capped
    select
        *,
        floor({{ dbt.datediff('group_started_at', 'event_at', 'second') }} / {{ max_seconds }}) as cap_index -- noqa: LT05
    from numbered

),

pieces as (

    select
        anonymous_id,
        client_session_id,
        session_number,
        cap_index,
        min(group_started_at) as group_started_at,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        max(resolved_user_id) as user_id,
        count(*) as event_count,
        cast(sum(case when event_type = 'page' then 1 else 0 end) as {{ dbt.type_bigint() }}) as page_view_count,
        cast(sum(case when event_name = 'Product Viewed' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_view_count,
        cast(sum(case when event_name = 'Product Added' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_added_count,
        cast(sum(case when event_name = 'Order Completed' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as order_completed_count,
        max(device_type) as device_type,
        max(country) as country
    from capped
    group by anonymous_id, client_session_id, session_number, cap_index

),

sessions as (

    -- a group cut into several pieces: every piece is flagged
    select
        *,
        max(cap_index) over (
            partition by anonymous_id, client_session_id, session_number
        ) as max_cap_index
    from pieces

),

final as (

    -- the key is the device, the client session id or the start of the inactivity-gap group, and the
    -- cap piece: never the user id, which stitching can change after the fact
    select
        {{ dbt.hash(dbt.concat([
            'anonymous_id', "'|'",
            "coalesce(client_session_id, " ~ dbt.cast('group_started_at', dbt.type_string()) ~ ")", "'|'",
            dbt.cast('cap_index', dbt.type_string())])) }} as session_id,
        anonymous_id,
        user_id,
        client_session_id,
        case when client_session_id is null then 'inactivity_gap' else 'client' end as session_source,
        session_started_at,
        session_ended_at,
        cast(session_started_at as date) as session_date,
        {{ dbt.datediff('session_started_at', 'session_ended_at', 'second') }} as duration_seconds, -- noqa: LT05
        event_count,
        page_view_count,
        product_view_count,
        product_added_count,
        order_completed_count,
        device_type,
        country,
        max_cap_index > 0 as is_capped
    from sessions

)

select * from final
