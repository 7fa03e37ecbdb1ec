"""The Airflow Assets the DAGs publish and consume, by URI (one place for both sides).

Plain strings, so that importing this module costs nothing; DAG files wrap them in
``airflow.sdk.Asset``.
"""

from __future__ import annotations

# The marts, published by crm_pipeline's quality gate when it passes.
MARTS = "postgres://warehouse/marts/mart_customer_balances"
# Labels the ML DAG writes back.
SEGMENTS = "postgres://warehouse/ml/customer_segments"
LIFECYCLE = "postgres://warehouse/ml/customer_lifecycle"
PROPENSITY = "postgres://warehouse/ml/customer_propensity"
ANOMALIES = "postgres://warehouse/ml/anomaly_alerts"
