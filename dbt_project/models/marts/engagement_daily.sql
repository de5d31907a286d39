with

pinpoint_events as (

    select * from {{ ref('stg_pinpoint__events') }}

),

messaging_events as (

    select * from pinpoint_events
    where occurred_at < {{ as_of_end() }}
        and channel <> 'APP'
        and engagement_event in (
            'send', 'campaign_send', 'journey_send', 'delivery', 'open', 'click', 'bounce', 'complaint', 'unsubscribe'
        )

),

daily as (

    select
        activity_date,
        coalesce(campaign_id, '(none)') as campaign_id,
        coalesce(journey_id, '(none)') as journey_id,
        channel,
        -- a message can be reported by the channel's send event and by a campaign or journey send event:
        -- count messages, not events
        count(distinct case
            when engagement_event in ('send', 'campaign_send', 'journey_send')
                then coalesce(message_id, event_id)
        end) as sends,
        sum(case when engagement_event = 'delivery' then 1 else 0 end) as deliveries,
        sum(case when engagement_event = 'open' then 1 else 0 end) as opens,
        count(distinct case when engagement_event = 'open' then coalesce(message_id, event_id) end) as unique_opens,
        sum(case when engagement_event = 'click' then 1 else 0 end) as clicks,
        count(distinct case when engagement_event = 'click' then coalesce(message_id, event_id) end) as unique_clicks,
        sum(case when engagement_event = 'bounce' then 1 else 0 end) as bounces,
        sum(case when engagement_event = 'complaint' then 1 else 0 end) as complaints,
        sum(case when engagement_event = 'unsubscribe' then 1 else 0 end) as unsubscribes
    from messaging_events
    group by activity_date, coalesce(campaign_id, '(none)'), coalesce(journey_id, '(none)'), channel

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            dbt.cast('activity_date', dbt.type_string()), "'|'", 'campaign_id', "'|'",
            'journey_id', "'|'", 'channel'])) }} as engagement_key,
        activity_date,
        campaign_id,
        journey_id,
        channel,
        cast(sends as {{ dbt.type_bigint() }}) as sends,
        cast(deliveries as {{ dbt.type_bigint() }}) as deliveries,
        cast(opens as {{ dbt.type_bigint() }}) as opens,
        cast(unique_opens as {{ dbt.type_bigint() }}) as unique_opens,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(unique_clicks as {{ dbt.type_bigint() }}) as unique_clicks,
        cast(bounces as {{ dbt.type_bigint() }}) as bounces,
        cast(complaints as {{ dbt.type_bigint() }}) as complaints,
        cast(unsubscribes as {{ dbt.type_bigint() }}) as unsubscribes,
        case when sends > 0 then round(1.0 * deliveries / sends, 4) end as delivery_rate,
        case when deliveries > 0 then round(1.0 * unique_opens / deliveries, 4) end as open_rate,
        case when deliveries > 0 then round(1.0 * unique_clicks / deliveries, 4) end as click_rate,
        case when sends > 0 then round(1.0 * bounces / sends, 4) end as bounce_rate
    from daily

)

select * from final
