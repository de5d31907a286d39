{#-
    Incremental: the pre-hook deletes the days of the reprocessed window and this run writes them again from
    the events, so a day's rows always match its events (a group that no longer has any is not left behind).
    Readers resolve the user at read time (int_identity), like the stitched events.
-#}
{{ config(
    pre_hook="{{ delete_incremental_window('event_date') }}",
    **incremental_event_config('activity_key', 'event_date')
) }}

with

events as (

    select
        anonymous_id,
        user_id,
        message_id,
        event_at,
        event_date,
        event_type,
        event_name,
        device_type,
        country,
        email,
        case when device_type is not null or country is not null then 1 else 0 end as has_context,
        case when email is not null then 1 else 0 end as has_email
    from {{ ref('stg_clickstream__events') }}
    where (anonymous_id is not null or user_id is not null)
        and {{ incremental_window('event_at') }}

),

daily as (

    select
        anonymous_id,
        user_id,
        event_date,
        count(*) as event_count,
        cast(sum(case when event_type = 'page' then 1 else 0 end) as {{ dbt.type_bigint() }}) as page_view_count,
        cast(sum(case when event_name = 'Product Viewed' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_view_count,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        max(case when has_context = 1 then event_at end) as last_context_at,
        max(case when has_email = 1 then event_at end) as last_email_at
    from events
    group by anonymous_id, user_id, event_date

),

latest_candidates as (

    -- the events at the day's latest times (a handful per group): joining back is cheaper than ordering
    -- every event of the day
    select
        events.anonymous_id,
        events.user_id,
        events.event_date,
        events.message_id,
        events.device_type,
        events.country,
        events.email,
        case when events.event_at = daily.last_event_at then 1 else 0 end as is_last,
        case when events.has_context = 1 and events.event_at = daily.last_context_at then 1 else 0 end as is_context,
        case when events.has_email = 1 and events.event_at = daily.last_email_at then 1 else 0 end as is_email
    from events
    inner join daily
        on coalesce(events.anonymous_id, '') = coalesce(daily.anonymous_id, '')
            and coalesce(events.user_id, '') = coalesce(daily.user_id, '')
            and events.event_date = daily.event_date
    where events.event_at in (daily.last_event_at, daily.last_context_at, daily.last_email_at)

),

ranked_candidates as (

    -- several events at the same latest time: the greatest message id wins
    select
        *,
        row_number() over (
            partition by anonymous_id, user_id, event_date, is_context
            order by message_id desc
        ) as context_rank,
        row_number() over (
            partition by anonymous_id, user_id, event_date, is_email
            order by message_id desc
        ) as email_rank
    from latest_candidates

),

latest as (

    select
        anonymous_id,
        user_id,
        event_date,
        max(case when is_last = 1 then message_id end) as last_message_id,
        max(case when is_context = 1 and context_rank = 1 then message_id end) as last_context_message_id,
        max(case when is_context = 1 and context_rank = 1 then device_type end) as device_type,
        max(case when is_context = 1 and context_rank = 1 then country end) as country,
        max(case when is_email = 1 and email_rank = 1 then message_id end) as last_email_message_id,
        max(case when is_email = 1 and email_rank = 1 then email end) as email
    from ranked_candidates
    group by anonymous_id, user_id, event_date

),

final as (

    select
        {{ dbt.concat([
            "coalesce(daily.anonymous_id, '')", "'|'",
            "coalesce(daily.user_id, '')", "'|'",
            dbt.cast('daily.event_date', dbt.type_string())]) }} as activity_key,
        daily.anonymous_id,
        daily.user_id,
        daily.event_date,
        daily.event_count,
        daily.page_view_count,
        daily.product_view_count,
        daily.first_event_at,
        daily.last_event_at,
        latest.last_message_id,
        daily.last_context_at,
        latest.last_context_message_id,
        latest.device_type,
        latest.country,
        daily.last_email_at,
        latest.last_email_message_id,
        latest.email
    from daily
    inner join latest
        on coalesce(daily.anonymous_id, '') = coalesce(latest.anonymous_id, '')
            and coalesce(daily.user_id, '') = coalesce(latest.user_id, '')
            and daily.event_date = latest.event_date

)

select * from final
