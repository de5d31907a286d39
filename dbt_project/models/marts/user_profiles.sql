with

device_activity as (

    -- a later run's days are not this as_of's
    select * from {{ ref('int_device_daily_activity') }}
    where event_date <= {{ as_of_date() }}

),

identity as (

    select * from {{ ref('int_identity') }}
    where identifier_type = 'anonymous_id'

),

cart_events as (

    -- distinct carts do not add up across days: read the 30 days' cart events themselves
    select * from {{ ref('int_clickstream_events_stitched') }}
    where event_name = 'Product Added'
        and event_date >= {{ days_before_as_of(29) }}
        and resolved_user_id is not null

),

sessions as (

    select * from {{ ref('int_sessions') }}
    where user_id is not null

),

orders as (

    select * from {{ ref('int_orders') }}
    where user_id is not null

),

endpoints as (

    select * from {{ ref('stg_pinpoint__endpoints') }}
    where user_id is not null

),

email_engagement as (

    select * from {{ ref('int_email_engagement_by_endpoint') }}

),

category_affinity as (

    select * from {{ ref('int_user_category_affinity') }}

),

loyalty as (

    select * from {{ ref('stg_partner__acme_loyalty') }}

),

user_activity as (

    -- each device-day's user: the one signed in, else the device's last user (stitched at read time)
    select
        coalesce(device_activity.user_id, identity.user_id) as user_id,
        device_activity.event_date,
        device_activity.page_view_count,
        device_activity.product_view_count,
        device_activity.first_event_at,
        device_activity.last_event_at,
        device_activity.last_context_at,
        device_activity.last_context_message_id,
        device_activity.device_type,
        device_activity.country,
        device_activity.last_email_at,
        device_activity.last_email_message_id,
        device_activity.email
    from device_activity
    left join identity
        on device_activity.anonymous_id = identity.identifier
    where coalesce(device_activity.user_id, identity.user_id) is not null

),

users as (

    select user_id from user_activity
    union
    select user_id from endpoints

),

event_activity as (

    select
        user_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        sum(case when event_date >= {{ days_before_as_of(6) }} then page_view_count else 0 end) as page_views_7d,
        sum(case when event_date >= {{ days_before_as_of(29) }} then page_view_count else 0 end) as page_views_30d,
        sum(case when event_date >= {{ days_before_as_of(6) }} then product_view_count else 0 end)
            as product_views_7d,
        sum(case when event_date >= {{ days_before_as_of(29) }} then product_view_count else 0 end)
            as product_views_30d
    from user_activity
    group by user_id

),

cart_activity as (

    select
        resolved_user_id as user_id,
        count(distinct case
            when event_date >= {{ days_before_as_of(6) }} then coalesce(cart_id, message_id)
        end) as carts_7d,
        count(distinct coalesce(cart_id, message_id)) as carts_30d
    from cart_events
    group by resolved_user_id

),

latest_context as (

    -- each device-day carries its latest event with context; the user's latest is the latest of those
    select
        user_id,
        device_type,
        country,
        row_number() over (
            partition by user_id
            order by last_context_at desc, last_context_message_id desc
        ) as context_rank
    from user_activity
    where last_context_at is not null

),

latest_email as (

    select
        user_id,
        email,
        row_number() over (
            partition by user_id
            order by last_email_at desc, last_email_message_id desc
        ) as email_rank
    from user_activity
    where last_email_at is not null

),

endpoint_summary as (

    select
        user_id,
        min(created_at) as first_endpoint_created_at,
        max(case when channel_type = 'EMAIL' then address end) as endpoint_email
    from endpoints
    group by user_id

),

session_activity as (

    select
        user_id,
        sum(case when session_date >= {{ days_before_as_of(6) }} then 1 else 0 end) as sessions_7d,
        sum(case when session_date >= {{ days_before_as_of(29) }} then 1 else 0 end) as sessions_30d
    from sessions
    group by user_id

),

order_summary as (

    select
        user_id,
        count(*) as lifetime_orders,
        sum(revenue) as lifetime_revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by user_id

),

rfm as (

    -- quintiles among buyers (5 = best); ties broken by user id so the scores are deterministic
    select
        user_id,
        ntile(5) over (order by last_order_at, user_id) as recency_score,
        ntile(5) over (order by lifetime_orders, user_id) as frequency_score,
        ntile(5) over (order by lifetime_revenue, user_id) as monetary_score
    from order_summary

),

email_by_user as (

    select
        endpoints.user_id,
        sum(email_engagement.sends) as email_sends,
        sum(email_engagement.deliveries) as email_deliveries,
        sum(email_engagement.opens) as email_opens,
        sum(email_engagement.clicks) as email_clicks,
        sum(email_engagement.bounces) as email_bounces,
        sum(email_engagement.complaints) as email_complaints,
        sum(email_engagement.unsubscribes) as email_unsubscribes,
        max(email_engagement.last_delivered_at) as email_last_delivered_at,
        max(email_engagement.last_engaged_at) as email_last_engaged_at
    from endpoints
    inner join email_engagement
        on endpoints.endpoint_id = email_engagement.endpoint_id
    group by endpoints.user_id

),

joined as (

    select
        users.user_id,
        coalesce(latest_email.email, endpoint_summary.endpoint_email) as email,
        case
            when event_activity.first_event_at is null then endpoint_summary.first_endpoint_created_at
            when endpoint_summary.first_endpoint_created_at is null then event_activity.first_event_at
            when endpoint_summary.first_endpoint_created_at < event_activity.first_event_at
                then endpoint_summary.first_endpoint_created_at
            else event_activity.first_event_at
        end as first_seen_at,
        event_activity.last_event_at as last_seen_at,
        cast(coalesce(session_activity.sessions_7d, 0) as {{ dbt.type_bigint() }}) as sessions_7d,
        cast(coalesce(session_activity.sessions_30d, 0) as {{ dbt.type_bigint() }}) as sessions_30d,
        cast(coalesce(event_activity.page_views_7d, 0) as {{ dbt.type_bigint() }}) as page_views_7d,
        cast(coalesce(event_activity.page_views_30d, 0) as {{ dbt.type_bigint() }}) as page_views_30d,
        cast(coalesce(event_activity.product_views_7d, 0) as {{ dbt.type_bigint() }}) as product_views_7d,
        cast(coalesce(event_activity.product_views_30d, 0) as {{ dbt.type_bigint() }}) as product_views_30d,
        cast(coalesce(cart_activity.carts_7d, 0) as {{ dbt.type_bigint() }}) as carts_7d,
        cast(coalesce(cart_activity.carts_30d, 0) as {{ dbt.type_bigint() }}) as carts_30d,
        cast(coalesce(order_summary.lifetime_orders, 0) as {{ dbt.type_bigint() }}) as lifetime_orders,
        coalesce(order_summary.lifetime_revenue, 0) as lifetime_revenue,
        order_summary.first_order_at,
        order_summary.last_order_at,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        category_affinity.preferred_category,
        latest_context.device_type as last_device_type,
        latest_context.country as last_country,
        cast(coalesce(email_by_user.email_sends, 0) as {{ dbt.type_bigint() }}) as email_sends,
        cast(coalesce(email_by_user.email_deliveries, 0) as {{ dbt.type_bigint() }}) as email_deliveries,
        cast(coalesce(email_by_user.email_opens, 0) as {{ dbt.type_bigint() }}) as email_opens,
        cast(coalesce(email_by_user.email_clicks, 0) as {{ dbt.type_bigint() }}) as email_clicks,
        cast(coalesce(email_by_user.email_bounces, 0) as {{ dbt.type_bigint() }}) as email_bounces,
        cast(coalesce(email_by_user.email_complaints, 0) as {{ dbt.type_bigint() }}) as email_complaints,
        cast(coalesce(email_by_user.email_unsubscribes, 0) as {{ dbt.type_bigint() }}) as email_unsubscribes,
        email_by_user.email_last_delivered_at,
        email_by_user.email_last_engaged_at
    from users
    left join event_activity
        on users.user_id = event_activity.user_id
    left join cart_activity
        on users.user_id = cart_activity.user_id
    left join latest_context
        on users.user_id = latest_context.user_id
            and latest_context.context_rank = 1
    left join latest_email
        on users.user_id = latest_email.user_id
            and latest_email.email_rank = 1
    left join endpoint_summary
        on users.user_id = endpoint_summary.user_id
    left join session_activity
        on users.user_id = session_activity.user_id
    left join order_summary
        on users.user_id = order_summary.user_id
    left join rfm
        on users.user_id = rfm.user_id
    left join email_by_user
        on users.user_id = email_by_user.user_id
    left join category_affinity
        on users.user_id = category_affinity.user_id

),

hashed as (

    select
        *,
        case when email is not null then {{ email_sha256('email') }} end as email_sha256,
        {{ days_to_as_of('first_seen_at') }} as days_since_first_seen,
        {{ days_to_as_of('coalesce(last_seen_at, first_seen_at)') }} as days_since_last_seen, -- noqa: LT05
        {{ days_to_as_of('last_order_at') }} as days_since_last_order
    from joined

),

final as (

    select
        hashed.user_id,
        hashed.email,
        hashed.email_sha256,
        hashed.first_seen_at,
        hashed.last_seen_at,
        hashed.days_since_first_seen,
        hashed.days_since_last_seen,
        hashed.sessions_7d,
        hashed.sessions_30d,
        hashed.page_views_7d,
        hashed.page_views_30d,
        hashed.product_views_7d,
        hashed.product_views_30d,
        hashed.carts_7d,
        hashed.carts_30d,
        hashed.lifetime_orders,
        hashed.lifetime_revenue,
        case
            when hashed.lifetime_orders > 0
                then hashed.lifetime_revenue / hashed.lifetime_orders
        end as avg_order_value,
        hashed.first_order_at,
        hashed.last_order_at,
        hashed.days_since_last_order,
        hashed.recency_score,
        hashed.frequency_score,
        hashed.monetary_score,
        hashed.preferred_category,
        hashed.last_device_type,
        hashed.last_country,
        hashed.email_sends,
        hashed.email_deliveries,
        hashed.email_opens,
        hashed.email_clicks,
        hashed.email_bounces,
        hashed.email_complaints,
        hashed.email_unsubscribes,
        hashed.email_last_delivered_at,
        hashed.email_last_engaged_at,
        loyalty.loyalty_tier,
        loyalty.points_balance,
        loyalty.member_since as loyalty_member_since,
        case
            when hashed.days_since_first_seen is null then 'churned'
            when hashed.days_since_first_seen < 30 then 'new'
            when hashed.days_since_last_seen < 30 then 'active'
            when hashed.days_since_last_seen < 90 then 'at_risk'
            when hashed.days_since_last_seen < 180 then 'lapsed'
            else 'churned'
        end as lifecycle_stage,
        {{ tier('hashed.lifetime_revenue', var('clv_high_min_revenue'), var('clv_med_min_revenue')) }} as clv_tier,
        {{ tier('hashed.sessions_30d', var('usage_high_min_sessions_30d'), var('usage_med_min_sessions_30d')) }}
            as usage_tier
    from hashed
    left join loyalty
        on hashed.email_sha256 = loyalty.email_sha256

)

select * from final
