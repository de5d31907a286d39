with

endpoints as (

    select * from {{ ref('stg_pinpoint__endpoints') }}

),

user_profiles as (

    select * from {{ ref('user_profiles') }}

),

recommendations as (

    select * from {{ ref('int_user_recommendations') }}

),

exportable_endpoints as (

    select * from endpoints
    where endpoint_status = 'ACTIVE'
        and opt_out = 'NONE'

),

final as (

    -- Pinpoint rejects attribute values over 100 characters: free-text attributes are cut by construction
    select
        cast(exportable_endpoints.endpoint_id as varchar) as endpoint_id,
        cast(exportable_endpoints.channel_type as varchar) as channel_type,
        cast(exportable_endpoints.address as varchar) as address,
        cast(exportable_endpoints.opt_out as varchar) as opt_out,
        cast(exportable_endpoints.user_id as varchar) as user_id,
        cast(user_profiles.lifecycle_stage as varchar) as lifecycle_stage,
        cast(user_profiles.clv_tier as varchar) as clv_tier,
        cast(user_profiles.usage_tier as varchar) as usage_tier,
        cast(substring(user_profiles.preferred_category, 1, 100) as varchar) as preferred_category,
        cast(recommendations.recommended_items as varchar) as recommended_items,
        cast(substring(user_profiles.loyalty_tier, 1, 100) as varchar) as loyalty_tier,
        cast(user_profiles.lifetime_orders as bigint) as lifetime_orders,
        cast(user_profiles.lifetime_revenue as decimal(18, 2)) as lifetime_revenue,
        cast(user_profiles.days_since_last_order as integer) as days_since_last_order
    from exportable_endpoints
    left join user_profiles
        on exportable_endpoints.user_id = user_profiles.user_id
    left join recommendations
        on exportable_endpoints.user_id = recommendations.user_id

)

select * from final
