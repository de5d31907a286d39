with

source as (

    select * from {{ source('raw', 'pinpoint_endpoints') }}
    where export_date <= {{ as_of_date() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by endpoint_id
            order by export_date desc, effective_at desc, source_key desc, source_line desc
        ) as export_rank
    from source

),

latest_export as (

    select * from ranked
    where export_rank = 1

),

renamed as (

    select
        endpoint_id,
        application_id,
        address,
        upper(channel_type) as channel_type,
        upper(endpoint_status) as endpoint_status,
        upper(opt_out) as opt_out,
        effective_at,
        created_at,
        cohort_id,
        user_id,
        {{ json_text('demographic', 'Platform') }} as platform,
        {{ json_text('demographic', 'Timezone') }} as timezone,
        upper({{ json_text('location', 'Country') }}) as country,
        user_attributes,
        attributes,
        metrics,
        export_date,
        source_key,
        source_line,
        arrival_hour
    from latest_export

),

final as (

    select * from renamed

)

select * from final
