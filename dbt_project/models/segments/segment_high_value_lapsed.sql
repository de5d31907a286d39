with

exported_endpoints as (

    select * from {{ ref('endpoint_segment_attributes') }}

),

final as (

    -- high lifetime value, no activity for 30 to 179 days: the win-back audience
    select
        endpoint_id,
        user_id
    from exported_endpoints
    where clv_tier = 'High'
        and lifecycle_stage in ('at_risk', 'lapsed')

)

select * from final
