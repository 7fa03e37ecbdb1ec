select * from {{ source_or_empty('ml', 'current_anomaly_alerts') }}
