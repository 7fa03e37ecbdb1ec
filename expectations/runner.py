"""Run a suite as a GX 1.x checkpoint on a Postgres table and record the result in ops.

Validation runs as SQL on the server (GX's SQL data source pushes metrics down), so no
table is pulled into pandas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from expectations.suites import Suite, get_suite
from warehouse.db import connect
from warehouse.log import get_logger
from warehouse.settings import sqlalchemy_url

log = get_logger("expectations")


class GateFailed(RuntimeError):
    """A quality gate failed: the affected marts must not be published."""


@dataclass(frozen=True)
class GateResult:
    suite: str
    target: str
    success: bool
    evaluated: int
    successful: int
    failed: list[str]
    details: dict[str, Any]


def _checkpoint_result(suite: Suite, url: str) -> dict[str, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_postgres("warehouse", connection_string=sqlalchemy_url(url))
    asset = source.add_table_asset(suite.table, table_name=suite.table, schema_name=suite.schema)
    batch = asset.add_batch_definition_whole_table("whole_table")
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.name))
    for expectation in suite.expectations:
        gx_suite.add_expectation(getattr(gxe, expectation.kind)(**expectation.kwargs))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}__validation", data=batch, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite.name}__checkpoint",
            validation_definitions=[validation],
            result_format="SUMMARY",
        )
    )
    return checkpoint.run().describe_dict()


def _expectation_label(item: dict[str, Any]) -> str:
    kwargs = {k: v for k, v in item.get("kwargs", {}).items() if k != "batch_id"}
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{item.get('expectation_type')}({args})"


def run_gate(
    suite: Suite | str, url: str, run_id: str, *, raise_on_failure: bool = True
) -> GateResult:
    """Validate, store the result in ops.dq_results, and raise GateFailed on failure."""
    if isinstance(suite, str):
        suite = get_suite(suite)
    described = _checkpoint_result(suite, url)
    validation = described["validation_results"][0]
    failed = [_expectation_label(e) for e in validation["expectations"] if not e["success"]]
    stats = validation["statistics"]
    result = GateResult(
        suite=suite.name,
        target=suite.target,
        success=bool(described["success"]),
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        failed=failed,
        details=described,
    )
    with connect(url) as conn:
        conn.execute(
            "insert into ops.dq_results (run_id, suite_name, target_table, success,"
            " evaluated_expectations, successful_expectations, failed_expectations, result)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                result.suite,
                result.target,
                result.success,
                result.evaluated,
                result.successful,
                result.failed,
                Jsonb(json.loads(json.dumps(described, default=str))),
            ),
        )
    log.info(
        "gate %s on %s: %s (%d/%d expectations met)",
        suite.name,
        suite.target,
        "passed" if result.success else "FAILED",
        result.successful,
        result.evaluated,
    )
    if not result.success and raise_on_failure:
        raise GateFailed(
            f"quality gate {suite.name} failed on {suite.target}: " + "; ".join(failed)
        )
    return result
