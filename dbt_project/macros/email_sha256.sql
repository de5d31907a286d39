{#-
    email_sha256(expr): lowercase hex SHA-256 of lower(trim(expr)), the partner join key
    (see plugins/engagement_warehouse/sources/contracts/acme_loyalty.yml).
-#}
{% macro email_sha256(expr) -%}
    {{ return(adapter.dispatch('email_sha256', 'engagement_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__email_sha256(expr) -%}
    sha256(lower(trim({{ expr }})))
{%- endmacro %}

{% macro redshift__email_sha256(expr) -%}
    sha2(lower(trim({{ expr }})), 256)
{%- endmacro %}

{% macro athena__email_sha256(expr) -%}
    lower(to_hex(sha256(to_utf8(lower(trim({{ expr }}))))))
{%- endmacro %}
