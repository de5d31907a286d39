{#-
    Incremental on the activity time (occurred_at = arrival_at for messaging events): for email,
    event_at is the SEND time shared by every event of a message, so an open arriving a week after the
    send must still fall inside the reprocessed window.
-#}
{{ config(**incremental_event_config('event_id', 'occurred_at')) }}
{#- Each JSON column is parsed once (json_texts), then its scalars are read by path (json_text_at). -#}
{%- set attribute_paths = [
    'channel_type', 'delivery_type', 'journey_activity_type', 'campaign_id', 'journey_id', 'treatment_id',
    'message_id', 'feedback'] -%}
{%- set facet_paths = ['email_channel.mail_event.mail.message_id', 'email_channel.mail_event.click.link'] -%}

with

source as (

    select * from {{ source('raw', 'pinpoint_events') }}
    where {{ incremental_window('arrival_at') }}

),

repeated_keys as (

    -- events the stream delivered more than once (at-least-once delivery)
    select event_id
    from source
    group by event_id
    having count(*) > 1

),

deduplicated as (

    {{ deduplicate(
        'source', 'repeated_keys', 'event_id', order_by='arrival_hour desc, source_key desc, source_line desc') }}

),

parsed as (

    select
        *,
        {{ json_texts('attributes', attribute_paths) }} as attribute_values,
        {{ json_texts('facets', facet_paths) }} as facet_values
    from deduplicated

),

renamed as (

    select
        event_id,
        event_type,
        client_id as endpoint_id,
        application_id,
        event_at,
        arrival_at,
        arrival_at as occurred_at,
        cast(arrival_at as date) as activity_date,
        cast(event_at as date) as event_date,
        case
            when substring(event_type, 1, 7) = '_email.' then 'EMAIL'
            when substring(event_type, 1, 5) = '_SMS.' then 'SMS'
            when substring(event_type, 1, 10) = '_campaign.' or substring(event_type, 1, 9) = '_journey.'
                then coalesce(
                        upper({{ json_text_at('attribute_values', attribute_paths, 'channel_type') }}),
                        upper({{ json_text_at('attribute_values', attribute_paths, 'delivery_type') }}),
                        upper({{ json_text_at('attribute_values', attribute_paths, 'journey_activity_type') }}),
                        'UNKNOWN'
                    )
            else 'APP'
        end as channel,
        case event_type
            when '_email.send' then 'send'
            when '_email.delivered' then 'delivery'
            when '_email.open' then 'open'
            when '_email.click' then 'click'
            when '_email.hardbounce' then 'bounce'
            when '_email.softbounce' then 'bounce'
            when '_email.complaint' then 'complaint'
            when '_email.unsubscribe' then 'unsubscribe'
            when '_email.rejected' then 'rejected'
            when '_email.rendering_failure' then 'failure'
            when '_SMS.BUFFERED' then 'send'
            when '_SMS.SUCCESS' then 'delivery'
            when '_SMS.FAILURE' then 'failure'
            when '_SMS.OPTOUT' then 'unsubscribe'
            when '_campaign.send' then 'campaign_send'
            when '_journey.send' then 'journey_send'
            else 'other'
        end as engagement_event,
        {{ json_text_at('attribute_values', attribute_paths, 'campaign_id') }} as campaign_id,
        {{ json_text_at('attribute_values', attribute_paths, 'journey_id') }} as journey_id,
        {{ json_text_at('attribute_values', attribute_paths, 'treatment_id') }} as treatment_id,
        coalesce(
            {{ json_text_at('attribute_values', attribute_paths, 'message_id') }},
            {{ json_text_at('facet_values', facet_paths, 'email_channel.mail_event.mail.message_id') }}
        ) as message_id,
        case when event_type = '_email.click' then
                coalesce(
                    {{ json_text_at('facet_values', facet_paths, 'email_channel.mail_event.click.link') }},
                    {{ json_text_at('attribute_values', attribute_paths, 'feedback') }}
                )
        end as click_link,
        session_id,
        session_start_at,
        session_stop_at,
        event_version,
        attributes,
        metrics,
        source_key,
        source_line,
        arrival_hour
    from parsed

),

final as (

    select * from renamed

)

select * from final
