with

pinpoint_events as (

    select * from {{ ref('stg_pinpoint__events') }}

),

email_events as (

    select * from pinpoint_events
    where channel = 'EMAIL'
        and endpoint_id is not null
        and occurred_at < {{ as_of_end() }}

),

final as (

    select
        endpoint_id,
        cast(count(distinct case
            when engagement_event in ('send', 'campaign_send', 'journey_send')
                then coalesce(message_id, event_id)
        end) as {{ dbt.type_bigint() }}) as sends,
        cast(sum(case when engagement_event = 'delivery' then 1 else 0 end) as {{ dbt.type_bigint() }}) as deliveries,
        cast(sum(case when engagement_event = 'open' then 1 else 0 end) as {{ dbt.type_bigint() }}) as opens,
        cast(sum(case when engagement_event = 'click' then 1 else 0 end) as {{ dbt.type_bigint() }}) as clicks,
        cast(sum(case when engagement_event = 'bounce' then 1 else 0 end) as {{ dbt.type_bigint() }}) as bounces,
        cast(sum(case when engagement_event = 'complaint' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as complaints,
        cast(sum(case when engagement_event = 'unsubscribe' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as unsubscribes,
        max(case when engagement_event in ('send', 'campaign_send', 'journey_send') then occurred_at end)
            as last_sent_at,
        max(case when engagement_event = 'delivery' then occurred_at end) as last_delivered_at,
        max(case when engagement_event = 'open' then occurred_at end) as last_opened_at,
        max(case when engagement_event = 'click' then occurred_at end) as last_clicked_at,
        max(case when engagement_event in ('open', 'click') then occurred_at end) as last_engaged_at
    from email_events
    group by endpoint_id

)

select * from final
