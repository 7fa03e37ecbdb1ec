"""Every DAG imports cleanly, has no cycles, and carries tags, retries and an owner."""

from __future__ import annotations

import pytest

from warehouse.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "crm_pipeline" in dagbag.dag_ids


def test_every_dag_has_tags_owner_and_retries(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"


def test_no_cycles_and_every_task_reachable(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        order = dag.topological_sort()
        assert len(order) == len(dag.tasks), f"{dag_id} has a cycle"
        roots = {t.task_id for t in dag.roots}
        assert roots, f"{dag_id} has no root task"


def test_skeleton_runs_stages_in_order(dagbag) -> None:
    dag = dagbag.dags["crm_pipeline"]
    upstream = {t.task_id: {u.task_id for u in t.upstream_list} for t in dag.tasks}
    assert upstream["dbt_build"] == {
        "load_core_banking__customers",
        "load_core_banking__accounts",
        "load_core_banking__balances",
        "load_core_banking__loan_status",
    }
    assert upstream["quality_gate"] == {"dbt_build"}
    assert upstream["label_segments"] == {"quality_gate"}
    assert upstream["summary"] == {"label_segments"}
