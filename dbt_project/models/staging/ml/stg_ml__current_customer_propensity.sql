select * from {{ source_or_empty('ml', 'current_customer_propensity') }}
