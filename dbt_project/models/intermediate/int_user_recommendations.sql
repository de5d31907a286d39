with

interactions as (

    select * from {{ ref('int_product_interactions') }}

),

affinity as (

    select * from {{ ref('int_user_category_affinity') }}

),

products as (

    -- popularity: buyers first, then interested users; ids over 100 characters cannot be exported
    select
        product_id,
        max(category) as category,
        sum(case when is_purchased then 1 else 0 end) as buyer_count,
        count(*) as interested_user_count
    from interactions
    where {{ dbt.length('product_id') }} <= 100
    group by product_id

),

candidates as (

    select
        affinity.user_id,
        products.product_id,
        row_number() over (
            partition by affinity.user_id
            order by products.buyer_count desc, products.interested_user_count desc, products.product_id asc
        ) as recommendation_rank
    from affinity
    inner join products
        on affinity.preferred_category = products.category
    left join interactions as bought
        on affinity.user_id = bought.user_id
            and products.product_id = bought.product_id
            and bought.is_purchased
    where bought.product_id is null

),

top_candidates as (

    select * from candidates
    where recommendation_rank <= 3

),

final as (

    select
        user_id,
        {{ dbt.listagg('product_id', "'|'", 'order by recommendation_rank') }} as recommended_items,
        count(*) as recommended_item_count
    from top_candidates
    group by user_id

)

select * from final
