"""ML labels, data-aware: runs when the quality gate publishes the marts (their Asset).

Each run labels the last closed month the marts hold: value segments and RFM, lifecycle
(churn probability, BG/NBD), wealth propensity with its rules and the next-best product,
and model anomaly alerts; then pushes segment and stage to the CRM and rebuilds the marts
that join the labels. Models are refit for each new month (monthly retraining); a second
run for the same month reproduces the same labels and replaces them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from warehouse import assets

WAREHOUSE = "warehouse"
CRM_API = "crm_api"


@dag(
    dag_id="ml_labels",
    description="Marts published -> segments, lifecycle, propensity, anomalies -> CRM, marts",
    schedule=[Asset(assets.MARTS)],
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ml"],
    default_args={"owner": "data-science", "retries": 1, "retry_delay": timedelta(minutes=1)},
)
def ml_labels():
    @task
    def as_of_month(logical_date=None, dag_run=None) -> str:
        """The last closed month on the run's day (an asset-triggered run: when it runs)."""
        from ml.features import latest_closed_month
        from warehouse.db import airflow_connection_url

        day = (logical_date or dag_run.run_after).date()
        return latest_closed_month(airflow_connection_url(WAREHOUSE), day).isoformat()

    @task(outlets=[Asset(assets.SEGMENTS)])
    def segments(month: str) -> dict[str, object]:
        from datetime import date

        from ml.segments import label_customers
        from warehouse.db import airflow_connection_url

        run = label_customers(airflow_connection_url(WAREHOUSE), date.fromisoformat(month))
        return {"model_run_id": run.model_run_id, "sizes": run.sizes, "alerts": run.alerts}

    @task(outlets=[Asset(assets.LIFECYCLE)])
    def lifecycle(month: str) -> dict[str, object]:
        from datetime import date

        from ml.lifecycle import label_lifecycle
        from warehouse.db import airflow_connection_url

        run = label_lifecycle(airflow_connection_url(WAREHOUSE), date.fromisoformat(month))
        return {"model_run_id": run.model_run_id, "stages": run.stages, "auc": run.churn_auc}

    @task(outlets=[Asset(assets.PROPENSITY)])
    def propensity(month: str) -> dict[str, object]:
        from datetime import date

        from ml.propensity import label_propensity
        from warehouse.db import airflow_connection_url

        run = label_propensity(airflow_connection_url(WAREHOUSE), date.fromisoformat(month))
        auc = None if run.wealth_auc != run.wealth_auc else round(run.wealth_auc, 4)  # NaN: no tree
        return {"model_run_id": run.model_run_id, "rules": len(run.rules), "auc": auc}

    @task(outlets=[Asset(assets.ANOMALIES)])
    def anomalies(month: str) -> dict[str, object]:
        from datetime import date

        from ml.anomalies import label_anomalies
        from warehouse.db import airflow_connection_url

        run = label_anomalies(airflow_connection_url(WAREHOUSE), date.fromisoformat(month))
        return {"model_run_id": run.model_run_id, "alerts": run.alerts}

    # Skipped (visibly) for a bank without a CRM system to write to (ingest/config/banks.yml).
    @task
    def push_to_crm(month: str) -> dict[str, object]:
        from datetime import date

        from airflow.sdk.exceptions import AirflowSkipException

        from ingest.config import delivered
        from ml.crm_push import push_labels
        from warehouse.db import airflow_connection_url
        from warehouse.settings import get_settings

        bank = get_settings().source
        if "crm" not in delivered(bank):
            raise AirflowSkipException(f"bank {bank!r} has no CRM system to push labels to")

        pushed = push_labels(
            airflow_connection_url(WAREHOUSE),
            airflow_connection_url(CRM_API),
            date.fromisoformat(month),
        )
        return {"labels": pushed.labels, "requests": pushed.requests}

    # The marts that join ML labels read them again once this run's labels are written; the
    # monthly ones rebuild the labelled month (dbt var refresh_months).
    @task
    def refresh_labelled_marts(month: str) -> None:
        import json

        from warehouse.db import airflow_connection_url
        from warehouse.dbt import LABELLED_MARTS, run_dbt
        from warehouse.settings import get_settings

        run_dbt(
            [
                "build",
                "--select",
                LABELLED_MARTS,
                "--vars",
                json.dumps({"refresh_months": [month]}),
            ],
            airflow_connection_url(WAREHOUSE),
            get_settings(),
        )

    month = as_of_month()
    labelled = [segments(month), lifecycle(month), propensity(month), anomalies(month)]
    pushed = push_to_crm(month)
    labelled[0] >> pushed
    labelled[1] >> pushed
    labelled >> refresh_labelled_marts(month)


ml_labels()
