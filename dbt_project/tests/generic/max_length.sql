{#-
    max_length(max): fails for every row whose text value is longer than `max` characters
    (Pinpoint rejects attribute values over 100 characters).
-#}
{% test max_length(model, column_name, max=100) %}
select {{ column_name }} as failing_value
from {{ model }}
where {{ dbt.length(column_name) }} > {{ max }}
{% endtest %}
