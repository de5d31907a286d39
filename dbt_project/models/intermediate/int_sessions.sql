{#-
    A view: int_device_sessions with the session's user resolved when it is read, like the stitched events,
    so a later login re-attributes the device's earlier sessions without rebuilding them.
-#}
{{ config(materialized='view') }}

with

device_sessions as (

    -- the incremental table may hold sessions of a later run; a past as_of must not see them
    select * from {{ ref('int_device_sessions') }}
    where session_started_at < {{ as_of_end() }}

),

identity as (

    select * from {{ ref('int_identity') }}
    where identifier_type = 'anonymous_id'

),

final as (

    select
        device_sessions.session_id,
        device_sessions.anonymous_id,
        coalesce(device_sessions.signed_in_user_id, identity.user_id) as user_id,
        device_sessions.client_session_id,
        device_sessions.session_source,
        device_sessions.session_started_at,
        device_sessions.session_ended_at,
        device_sessions.session_date,
        device_sessions.duration_seconds,
        device_sessions.event_count,
        device_sessions.page_view_count,
        device_sessions.product_view_count,
        device_sessions.product_added_count,
        device_sessions.order_completed_count,
        device_sessions.device_type,
        device_sessions.country,
        device_sessions.is_capped
    from device_sessions
    left join identity
        on device_sessions.anonymous_id = identity.identifier

)

select * from final
