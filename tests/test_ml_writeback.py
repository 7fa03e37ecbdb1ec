"""Write-back of ML labels: a month re-run replaces, a new version keeps history, and the
labels reach the bank's CRM (the demo CRM API served for real, with injected errors)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from ingest.http_client import ApiConnection
from ml import crm_push
from ml.writeback import finish_run, replace_labels, start_run
from sources.demo_bank.crm_api import create_app, serve_in_thread
from warehouse.db import connect

MONTH = date(2032, 3, 1)
TOKEN = "writeback-test-token"
STAGES = ["new", "growth", "mature", "decline", "dormant"]


def _write_month(url: str, model: str, version: str, table: str, rows: list[tuple]) -> int:
    columns = {
        "customer_segments": [
            "customer_id",
            "as_of_month",
            "model_version",
            "segment_id",
            "segment_name",
            "model_run_id",
        ],
        "customer_lifecycle": [
            "customer_id",
            "as_of_month",
            "model_version",
            "lifecycle_stage",
            "churn_probability",
            "probability_alive",
            "expected_transactions",
            "model_run_id",
        ],
    }[table]
    with connect(url) as conn, conn.transaction():
        run_id = start_run(conn, model, version, MONTH, {"test": True}, "fingerprint")
        replace_labels(conn, table, columns, [(*row, run_id) for row in rows], MONTH, version)
        finish_run(conn, run_id, {"rows": len(rows)}, len(rows))
    return run_id


def _segments(n: int, names: list[str]) -> list[tuple]:
    return [
        (c, MONTH, crm_push.segments.MODEL_VERSION, c % len(names), names[c % len(names)])
        for c in range(1, n + 1)
    ]


def _lifecycle(n: int, version: str) -> list[tuple]:
    return [(c, MONTH, version, STAGES[c % 5], 0.1, 0.9, 2.5) for c in range(1, n + 1)]


@pytest.fixture
def labelled(scratch_warehouse: str):
    url = scratch_warehouse
    yield url
    with connect(url) as conn:
        for table in ("customer_segments", "customer_lifecycle"):
            conn.execute(f"delete from ml.{table} where as_of_month = %s", (MONTH,))
        conn.execute("delete from ml.model_runs where as_of_month = %s", (MONTH,))


def test_rerunning_a_month_replaces_it_and_a_new_version_keeps_history(labelled: str) -> None:
    version = crm_push.lifecycle.MODEL_VERSION
    first = _write_month(
        labelled, "lifecycle", version, "customer_lifecycle", _lifecycle(50, version)
    )
    second = _write_month(
        labelled, "lifecycle", version, "customer_lifecycle", _lifecycle(50, version)
    )
    newer = _write_month(
        labelled, "lifecycle", "9.9.9", "customer_lifecycle", _lifecycle(40, "9.9.9")
    )
    with connect(labelled) as conn:
        per_version = dict(
            conn.execute(
                "select model_version, count(*) from ml.customer_lifecycle"
                " where as_of_month = %s group by model_version",
                (MONTH,),
            ).fetchall()
        )
        duplicates = conn.execute(
            "select count(*) from (select customer_id, model_version from ml.customer_lifecycle"
            " where as_of_month = %s group by 1, 2 having count(*) > 1) as d",
            (MONTH,),
        ).fetchone()[0]
        runs = {
            r[0]
            for r in conn.execute(
                "select distinct model_run_id from ml.customer_lifecycle where as_of_month = %s",
                (MONTH,),
            )
        }
        recorded = conn.execute(
            "select count(*) from ml.model_runs where model_run_id = any(%s)"
            " and finished_at is not null",
            ([first, second, newer],),
        ).fetchone()[0]
    assert per_version == {version: 50, "9.9.9": 40}
    assert duplicates == 0
    assert runs == {second, newer}, "the re-run replaced the first run's labels"
    assert recorded == 3, "every run stays recorded"


def test_labels_reach_the_crm_through_retries(labelled: str, tmp_path: Path) -> None:
    names = ["Top value", "Core", "Entry"]
    _write_month(
        labelled,
        "value_segments",
        crm_push.segments.MODEL_VERSION,
        "customer_segments",
        [row[:5] for row in _segments(300, names)],
    )
    version = crm_push.lifecycle.MODEL_VERSION
    _write_month(labelled, "lifecycle", version, "customer_lifecycle", _lifecycle(300, version))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bank_date": "2032-03-31"}), encoding="utf-8")
    # One request in three fails with a server error: the push retries until accepted.
    app = create_app(tmp_path / "world", state, TOKEN, error_rate=0.33, seed=5)
    with serve_in_thread(app) as base_url:
        api = ApiConnection(base_url, TOKEN).to_uri()
        pushed = crm_push.push_labels(labelled, api, MONTH)
        again = crm_push.push_labels(labelled, api, MONTH)
        stored = []
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client:
            cursor = None
            while True:
                params = {"as_of_month": MONTH.isoformat(), "page_size": 100}
                if cursor:
                    params["cursor"] = cursor
                response = client.get("/api/v1/labels", params=params)
                if response.status_code >= 500:
                    continue  # the injected errors apply to reads too
                body = response.json()
                stored += body["data"]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
    assert pushed.labels == again.labels == 300
    assert len(stored) == 300, "pushed twice, stored once"
    by_customer = {row["customer_id"]: row for row in stored}
    assert by_customer[7]["segment"] == names[7 % 3]
    assert by_customer[7]["lifecycle_stage"] == STAGES[7 % 5]
    assert {row["model_version"] for row in stored} == {crm_push.LABEL_VERSION}
