with

interactions as (

    select * from {{ ref('int_product_interactions') }}

),

by_category as (

    select
        user_id,
        category,
        sum(interaction_score) as category_score,
        max(last_interacted_at) as last_interacted_at
    from interactions
    where category is not null
    group by user_id, category

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by category_score desc, last_interacted_at desc, category asc
        ) as category_rank
    from by_category

),

final as (

    select
        user_id,
        category as preferred_category,
        category_score as preferred_category_score
    from ranked
    where category_rank = 1

)

select * from final
