"""`crm airflow` starts every Airflow component with the UI on localhost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import psutil
import pytest
from conftest import CRM, free_port

from warehouse.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_crm_airflow_serves_the_ui_with_healthy_components(settings, test_env) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "WAREHOUSE_URL" and not k.startswith(("CRM_", "AIRFLOW"))
    }
    env.update(test_env)
    # Every port the components open is a free one, so a developer's Airflow is untouched.
    env.update(
        {
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        }
    )
    proc = subprocess.Popen(
        [CRM, "airflow", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    health: dict = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5
                ) as response:
                    health = json.load(response)
                if all(part.get("status") == "healthy" for part in health.values()):
                    break
            except OSError:
                pass
            time.sleep(3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
            assert "<html" in page.read().decode("utf-8", "replace").lower()
    finally:
        tree = psutil.Process(proc.pid).children(recursive=True)
        proc.terminate()  # what a supervisor or `kill` sends to `crm airflow` alone
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(tree, timeout=30)
        for leftover in alive:
            leftover.kill()
    assert not alive, f"`crm airflow` left processes behind: {[p.pid for p in alive]}"
    assert set(health) >= {"metadatabase", "scheduler", "triggerer", "dag_processor"}
    assert all(part["status"] == "healthy" for part in health.values()), health
