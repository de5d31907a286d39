{#-
    Incremental (macros/sessions.sql): the pre-hook deletes the sessions of the device partitions with events
    in the reprocessed window, from each one's last group that began before the window. This run then
    sessionises each such partition again from its last group left before the window (or from its first
    event when none is left): that group comes out unchanged and replaces itself by session_id.
-#}
{{ config(
    pre_hook="{{ delete_rebuilt_sessions() }}",
    **incremental_event_config('session_id', 'session_started_at')
) }}
{%- set gap_minutes = var('session_gap_minutes') | int -%}
{%- set max_seconds = (var('session_max_hours') | int) * 3600 -%}

with

events as (

    select
        anonymous_id,
        client_session_id,
        message_id,
        event_at,
        user_id,
        event_type,
        event_name,
        device_type,
        country
    from {{ ref('stg_clickstream__events') }}
    where anonymous_id is not null
        and event_at < {{ as_of_end() }}

),

{% if is_incremental() %}

changed_partitions as (

    select distinct
        anonymous_id,
        client_session_id,
        {{ session_partition_key() }} as session_partition_key
    from events
    where event_at >= {{ incremental_window_start() }}

),

rebuilt_from as (

    -- null: the partition has no session left before the window, all its events are sessionised again
    select
        changed_partitions.anonymous_id,
        changed_partitions.client_session_id,
        max(previous_sessions.group_started_at) as rebuilt_from_at
    from changed_partitions
    left join {{ this }} as previous_sessions
        on changed_partitions.session_partition_key = previous_sessions.session_partition_key
            and previous_sessions.group_started_at < {{ incremental_window_start() }}
    group by changed_partitions.anonymous_id, changed_partitions.client_session_id

),

{% endif %}

sessionised_events as (

    -- qualified: incremental runs join rebuilt_from (on the device, then the client session id, null or not)
    select events.* -- noqa: RF03
    from events
    {%- if is_incremental() %}
    inner join rebuilt_from
        on events.anonymous_id = rebuilt_from.anonymous_id
    where (
            events.client_session_id = rebuilt_from.client_session_id
            or (events.client_session_id is null and rebuilt_from.client_session_id is null)
        )
        and (rebuilt_from.rebuilt_from_at is null or events.event_at >= rebuilt_from.rebuilt_from_at)
    {%- endif %}

),

ordered as (

    -- events with a client session id are ordered within that session; the others per device
    select
        *,
        lag(event_at) over (
            partition by anonymous_id, client_session_id
            order by event_at, message_id
        ) as previous_event_at
    from sessionised_events

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
        max(user_id) as signed_in_user_id,
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
        {{ session_partition_key() }} as session_partition_key,
        anonymous_id,
        signed_in_user_id,
        client_session_id,
        case when client_session_id is null then 'inactivity_gap' else 'client' end as session_source,
        group_started_at,
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
