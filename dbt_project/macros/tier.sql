{#-
    tier(expr, high_min, med_min): 'High' when expr >= high_min, 'Med' when expr >= med_min, else 'Low'
    (a null expr counts as 0). Used for clv_tier and usage_tier; thresholds are project vars.
-#}
{% macro tier(expr, high_min, med_min) -%}
    case
        when coalesce({{ expr }}, 0) >= {{ high_min }} then 'High'
        when coalesce({{ expr }}, 0) >= {{ med_min }} then 'Med'
        else 'Low'
    end
{%- endmacro %}
