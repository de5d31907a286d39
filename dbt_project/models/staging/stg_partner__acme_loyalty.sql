with

source as (

    select * from {{ source('raw', 'partner_acme_loyalty') }}
    where file_date <= {{ as_of_date() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by lower(email_sha256)
            order by file_date desc, source_key desc, source_line desc
        ) as file_rank
    from source

),

latest_file as (

    select * from ranked
    where file_rank = 1

),

renamed as (

    select
        lower(email_sha256) as email_sha256,
        lower(loyalty_tier) as loyalty_tier,
        points_balance,
        member_since,
        file_date,
        source_key,
        source_line,
        arrival_hour
    from latest_file

),

final as (

    select * from renamed

)

select * from final
