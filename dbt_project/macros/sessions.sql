{#-
    Incremental sessionisation (int_device_sessions). A run rebuilds, for each device partition (the device,
    and the client session id when there is one) with events in the reprocessed window, the sessions of its
    last group that began before the window and everything after. Earlier groups ended more than the gap
    before that group began, so no new event can change them. A late event can merge or split sessions, so
    the rebuilt sessions are first deleted by this pre-hook: replacing rows by session_id alone would leave
    stale ones behind.
-#}

{#- session_partition_key(): the partition a session is computed in (never the user id). -#}
{% macro session_partition_key() -%}
    {{ dbt.concat([
        'anonymous_id', "'|'",
        "case when client_session_id is null then 'gap' else "
            ~ dbt.concat(["'client:'", 'client_session_id']) ~ " end"]) }}
{%- endmacro %}

{#- The pre-hook: delete the sessions this run rebuilds (nothing on a full build). -#}
{% macro delete_rebuilt_sessions() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where session_id in (
        select previous_sessions.session_id
        from {{ this }} as previous_sessions
        inner join (
            select
                changed_partitions.session_partition_key,
                max(settled_sessions.group_started_at) as rebuilt_from_at
            from (
                select distinct {{ session_partition_key() }} as session_partition_key
                from {{ ref('stg_clickstream__events') }}
                where anonymous_id is not null
                    and event_at >= {{ incremental_window_start() }}
                    and event_at < {{ as_of_end() }}
            ) as changed_partitions
            left join {{ this }} as settled_sessions
                on changed_partitions.session_partition_key = settled_sessions.session_partition_key
                    and settled_sessions.group_started_at < {{ incremental_window_start() }}
            group by changed_partitions.session_partition_key
        ) as rebuilt_from
            on previous_sessions.session_partition_key = rebuilt_from.session_partition_key
        where rebuilt_from.rebuilt_from_at is null
            or previous_sessions.group_started_at >= rebuilt_from.rebuilt_from_at
    )
    {%- endif -%}
{%- endmacro %}
