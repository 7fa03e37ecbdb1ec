"""Every DAG imports cleanly, has no cycles, and carries tags, retries and an owner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ingest.config import SYSTEMS, load_system
from warehouse.airflow_runner import condition_holds
from warehouse.dbt import ensure_manifest
from warehouse.dbt_airflow import PRODUCER_SUFFIX
from warehouse.settings import PROJECT_ROOT, Settings

# The Cosmos group building the dbt project, per DAG.
DBT_GROUPS = {"crm_pipeline": "dbt_build", "warehouse_build": "dbt"}
PIPELINE_PRODUCER = "dbt_build" + PRODUCER_SUFFIX


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    # As `crm run` does: dbt's manifest is ready before the DAGs are parsed.
    ensure_manifest(Settings.from_env())
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "120")
    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "crm_pipeline" in dagbag.dag_ids


def test_every_dag_has_tags_owner_and_retries(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: owner"
            if task.task_id.endswith(PRODUCER_SUFFIX):
                # Cosmos skips a retried producer; the run is retried whole instead.
                assert task.retries == 0, f"{dag_id}.{task.task_id}: retried build"
                continue
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"


def test_no_cycles_and_every_task_reachable(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        order = dag.topological_sort()
        assert len(order) == len(dag.tasks), f"{dag_id} has a cycle"
        roots = {t.task_id for t in dag.roots}
        assert roots, f"{dag_id} has no root task"


def _ancestors(dag, task_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [task_id]
    while todo:
        for upstream in dag.get_task(todo.pop()).upstream_task_ids:
            if upstream not in seen:
                seen.add(upstream)
                todo.append(upstream)
    return seen


def test_pipeline_loads_every_entity_before_dbt_and_core_before_the_rest(dagbag) -> None:
    dag = dagbag.dags["crm_pipeline"]
    before_dbt = _ancestors(dag, PIPELINE_PRODUCER)
    for system in SYSTEMS:
        for entity in load_system(system).entities:
            assert f"ingest_{system}.load_{entity}" in before_dbt, (system, entity)
    for system in ("cards", "crm", "service", "wealth"):
        first = next(iter(load_system(system).entities))
        upstream = _ancestors(dag, f"ingest_{system}.load_{first}")
        assert "ingest_core_banking.load_customers" in upstream, system
    assert "source_freshness" in before_dbt
    assert dag.get_task(PIPELINE_PRODUCER).trigger_rule == "none_failed"
    assert _ancestors(dag, "quality_gate") >= {
        PIPELINE_PRODUCER,
        "dbt_build.mart_customer_balances.run",
        "dbt_build.mart_customer_balances.test",
        "prepare_source",
    }
    assert [o.uri for o in dag.get_task("quality_gate").outlets] == [
        "postgres://warehouse/marts/mart_customer_balances"
    ], "the marts are published when the gate passes"
    assert dag.get_task("summary").upstream_task_ids == {"quality_gate"}


def test_ml_labels_is_scheduled_on_the_marts_the_gate_publishes(dagbag) -> None:
    pipeline, ml = dagbag.dags["crm_pipeline"], dagbag.dags["ml_labels"]
    published = {o.uri for o in pipeline.get_task("quality_gate").outlets}
    condition = ml.timetable.asset_condition
    assert {a.uri for a in condition.objects} == published
    labels = {"segments", "lifecycle", "propensity", "anomalies"}
    for task_id in labels:
        assert ml.get_task(task_id).upstream_task_ids == {"as_of_month"}
        assert [o.uri for o in ml.get_task(task_id).outlets], f"{task_id} publishes no Asset"
    assert ml.get_task("push_to_crm").upstream_task_ids == {"as_of_month", "segments", "lifecycle"}
    assert ml.get_task("refresh_labelled_marts").upstream_task_ids == labels | {"as_of_month"}


def test_asset_conditions_follow_airflow_semantics() -> None:
    both = {"all": ["a", "b"]}
    either = {"any": ["a", {"all": ["b", "c"]}]}
    assert condition_holds(both, {"a", "b", "x"}) and not condition_holds(both, {"a"})
    assert condition_holds(either, {"a"}) and condition_holds(either, {"b", "c"})
    assert not condition_holds(either, {"b"}) and not condition_holds({"all": []}, {"a"})


@pytest.mark.parametrize("system", SYSTEMS)
def test_one_ingest_dag_per_system_with_a_task_and_asset_per_entity(dagbag, system) -> None:
    dag = dagbag.dags[f"ingest_{system}"]
    entities = load_system(system).entities
    loads = {t.task_id: t for t in dag.tasks if t.task_id.startswith("load_")}
    assert set(loads) == {f"load_{e}" for e in entities}
    for name, task in loads.items():
        assets = [o.uri for o in task.outlets]
        assert assets == [f"postgres://warehouse/raw/{system}__{name[len('load_') :]}"]
    assert dag.max_active_runs == 1, "watermark windows expect days in order"
    assert dag.timetable.__class__.__name__ == "CronDataIntervalTimetable"
    # Entities referencing another entity of the same system load after it.
    for name, entity in entities.items():
        for ref in entity.references:
            if ref.system == system and ref.entity != name:
                assert f"load_{ref.entity}" in _ancestors(dag, f"load_{name}")
    if load_system(system).upstream_systems:
        assert "wait_for_upstream" in {t.task_id for t in dag.tasks}


def test_dag_files_parse_without_heavy_imports() -> None:
    code = (
        "import sys, runpy\n"
        "for name in ('crm_pipeline', 'ingest_sources', 'warehouse_build', 'ml_labels'):\n"
        f"    runpy.run_path(r'{PROJECT_ROOT / 'dags'}/' + name + '.py')\n"
        "heavy = ('pandas', 'psycopg', 'dbt', 'sklearn', 'pyarrow', 'great_expectations')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("HEAVY:"))
    assert line == "HEAVY:", f"DAG files import {line[6:]} at parse time"


@pytest.mark.parametrize(("dag_id", "group"), DBT_GROUPS.items())
def test_dbt_runs_as_one_build_with_a_task_per_model(dagbag, dag_id, group) -> None:
    dag = dagbag.dags[dag_id]
    manifest = json.loads(ensure_manifest(Settings.from_env()).read_text())
    nodes = manifest["nodes"].values()
    models = {n["name"] for n in nodes if n["resource_type"] == "model"}
    tasks = {t.task_id: t for t in dag.tasks if t.task_id.startswith(f"{group}.")}
    assert {tid.split(".")[1] for tid in tasks if tid.endswith(".run")} == models
    producer_id = group + PRODUCER_SUFFIX
    # One dbt build runs every model; each model's task follows it and its parents.
    assert all(producer_id in _ancestors(dag, tid) for tid in tasks if tid != producer_id)
    assert tasks[producer_id].retries == 0
    ancestors = _ancestors(dag, f"{group}.fct_customer_contribution_monthly.run")
    assert f"{group}.fct_contribution_lines.run" in ancestors
    assert f"{group}.fct_contribution_lines.test" in ancestors, "tests gate the models after them"
