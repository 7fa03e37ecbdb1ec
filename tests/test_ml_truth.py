"""The ML labels against the demo bank's hidden truth, on a bank long enough for churn.

The pipeline test's demo bank (300 customers, 6 months) is too short to train a churn
model; this module generates its own (1,500 customers, 18 months, more injected bursts so
anomaly precision and recall rest on a few dozen cases), loads it and builds the marts
outside Airflow (the pipeline tests cover the DAGs), then runs ``ml.truth``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from conftest import free_port

from ingest.tasks import load_every_system
from ml.truth import MODEL_NAME, check_against_truth
from sources.demo_bank.bank import generate
from sources.demo_bank.config import DemoBankConfig, Layout
from warehouse.bootstrap import ensure_ready
from warehouse.db import connect
from warehouse.dbt import run_dbt
from warehouse.embedded import server_for
from warehouse.settings import Settings

pytestmark = pytest.mark.slow

DAY = date(2026, 1, 30)
BANK = DemoBankConfig(
    customers=1500, months=18, seed=11, start=date(2024, 8, 1), anomaly_accounts_per_10k=150
)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, Settings]]:
    settings = Settings.from_env(
        {
            "CRM_STATE_DIR": str(tmp_path_factory.mktemp("crm-truth")),
            "CRM_PG_PORT": str(free_port()),
            "CRM_API_PORT": str(free_port()),
        }
    )
    ensure_ready(settings)
    try:
        generate(BANK, Layout(settings.data_dir), settings.core_banking_url, as_of=DAY)
        load_every_system(settings, DAY)
        # The models read the marts; the marts' own tests run in the pipeline tests.
        run_dbt(
            ["build", "--exclude", "resource_type:test", "resource_type:unit_test"],
            settings.warehouse_url,
            settings,
        )
        figures = check_against_truth(settings.warehouse_url, settings.data_dir, DAY)
        print(json.dumps(figures, indent=1))
        yield figures, settings
    finally:
        server_for(settings).stop()


def test_churn_model_ranks_the_real_leavers_first(checked) -> None:
    churn = checked[0]["churn"]
    assert churn["left_within_horizon"] >= 10, f"too few leavers to judge: {churn}"
    assert churn["auc"] >= 0.85, churn
    # Calibrated: the mean probability is near the rate that really left.
    assert abs(churn["mean_probability"] - churn["observed_rate"]) <= 0.02, churn


def test_lifecycle_stages_agree_with_the_latent_stages(checked) -> None:
    stages = checked[0]["lifecycle"]
    assert stages["customers"] >= 1000, stages
    assert stages["agreement"] >= 0.85, stages
    assert stages["agreement_live"] >= 0.85, stages
    assert stages["agreement_live"] >= stages["rules_agreement_live"] - 0.01, (
        f"the models made the rule stages worse: {stages}"
    )
    assert stages["recall_by_stage"]["churned"] >= 0.95, stages


def test_anomaly_alerts_find_the_injected_bursts(checked) -> None:
    anomalies = checked[0]["anomalies"]
    assert anomalies["injected"] >= 10, anomalies
    assert anomalies["recall"] >= 0.8, anomalies
    assert anomalies["precision"] >= 0.05, anomalies


def test_segments_are_stable_between_runs_and_seeds(checked) -> None:
    segments = checked[0]["segments"]
    assert segments["ari_rerun"] >= 0.9, segments
    assert segments["ari_other_seeds_min"] >= 0.9, segments


def test_the_figures_are_recorded_as_a_run(checked) -> None:
    figures, settings = checked
    with connect(settings.warehouse_url) as conn:
        row = conn.execute(
            "select model_run_id, metrics, training_window is not null, finished_at is not null"
            " from ml.model_runs where model_name = %s order by model_run_id desc limit 1",
            (MODEL_NAME,),
        ).fetchone()
    assert row is not None
    run_id, metrics, has_window, finished = row
    assert run_id == figures["model_run_id"] and has_window and finished
    assert metrics["churn"] == figures["churn"] and metrics["anomalies"] == figures["anomalies"]
