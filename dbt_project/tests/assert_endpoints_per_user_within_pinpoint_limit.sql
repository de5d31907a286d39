{#-
    Pinpoint accepts at most 15 endpoints per user id: a 16th email, SMS or custom endpoint is rejected.
    Fails (as a warning) for every exported user above the limit.
-#}
{{ config(severity='warn') }}

with

exported_endpoints as (

    select * from {{ ref('endpoint_segment_attributes') }}
    where user_id is not null

),

final as (

    select
        user_id,
        count(*) as endpoint_count
    from exported_endpoints
    group by user_id
    having count(*) > 15

)

select * from final
