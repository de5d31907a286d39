with

exported_endpoints as (

    select * from {{ ref('endpoint_segment_attributes') }}
    where channel_type = 'EMAIL'

),

email_engagement as (

    select * from {{ ref('int_email_engagement_by_endpoint') }}

),

final as (

    -- reached at least once, and no open or click in the 90 days ending on as_of
    select
        exported_endpoints.endpoint_id,
        exported_endpoints.user_id
    from exported_endpoints
    inner join email_engagement
        on exported_endpoints.endpoint_id = email_engagement.endpoint_id
    where email_engagement.deliveries > 0
        and (
            email_engagement.last_engaged_at is null
            or email_engagement.last_engaged_at < cast({{ days_before_as_of(89) }} as timestamp)
        )

)

select * from final
