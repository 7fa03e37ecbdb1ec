"""What a pipeline run built: row counts per layer, the gate verdict, the labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial

from psycopg import sql
from psycopg.types.json import Jsonb

from warehouse.db import connect

_LAYERS = ("raw", "staging", "marts", "ml")
WEALTH_RULES_SHOWN = 3


@dataclass
class Summary:
    tables: dict[str, int] = field(default_factory=dict)
    last_gate: dict[str, object] | None = None
    segments: dict[str, int] = field(default_factory=dict)
    wealth_rules: list[str] = field(default_factory=list)
    batches: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "tables": self.tables,
            "last_gate": self.last_gate,
            "segments": self.segments,
            "wealth_rules": self.wealth_rules,
            "batches": self.batches,
        }


def collect(url: str) -> Summary:
    from ml.propensity import WEALTH_CLASS

    summary = Summary()
    with connect(url, autocommit=True) as conn:
        relations = conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema = any(%s) order by 1, 2",
            (list(_LAYERS),),
        ).fetchall()
        for schema, table in relations:
            count = conn.execute(
                sql.SQL("select count(*) from {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            ).fetchone()[0]
            summary.tables[f"{schema}.{table}"] = int(count)
        gate = conn.execute(
            "select suite_name, target_table, success, successful_expectations,"
            " evaluated_expectations, checked_at from ops.dq_results"
            " order by checked_at desc limit 1"
        ).fetchone()
        if gate:
            summary.last_gate = dict(
                zip(
                    ("suite", "target", "success", "successful", "evaluated", "checked_at"),
                    gate,
                    strict=True,
                )
            )
        if conn.execute("select to_regclass('ml.current_customer_segments')").fetchone()[0]:
            summary.segments = dict(
                conn.execute(
                    "select segment_name, count(*) from ml.current_customer_segments"
                    " group by segment_name order by min(segment_id)"
                ).fetchall()
            )
        if conn.execute("select to_regclass('ml.propensity_rules')").fetchone()[0]:
            # The latest propensity run's rules for wealth customers, surest first.
            summary.wealth_rules = [
                text
                for (text,) in conn.execute(
                    "select rule_text from ml.propensity_rules"
                    " where prediction = %s and model_run_id = (select max(model_run_id)"
                    "  from ml.model_runs where model_name = 'propensity'"
                    "  and finished_at is not null)"
                    " order by confidence desc, rule_support desc limit %s",
                    (WEALTH_CLASS, WEALTH_RULES_SHOWN),
                )
            ]
        summary.batches = [
            dict(zip(("target", "status", "received", "loaded", "quarantined"), row, strict=True))
            for row in conn.execute(
                "select distinct on (target_table) target_table, status, rows_received,"
                " rows_loaded, rows_quarantined from ops.load_batches"
                " order by target_table, batch_id desc"
            )
        ]
    return summary


def render(summary: Summary) -> str:
    lines = ["Tables built (rows):"]
    width = max((len(name) for name in summary.tables), default=10)
    for name, count in summary.tables.items():
        lines.append(f"  {name:<{width}}  {count:>10,}")
    if summary.batches:
        lines.append("Latest load batches (received = loaded + quarantined):")
        for b in summary.batches:
            lines.append(
                f"  {b['target']:<{width}}  {b['status']:<9} {b['received']:>8} = "
                f"{b['loaded']} + {b['quarantined']}"
            )
    if summary.last_gate:
        g = summary.last_gate
        verdict = "passed" if g["success"] else "FAILED"
        lines.append(
            f"Quality gate {g['suite']} on {g['target']}: {verdict} "
            f"({g['successful']}/{g['evaluated']} expectations)"
        )
    if summary.segments:
        lines.append("Customer segments (ml.current_customer_segments):")
        lines.extend(f"  {name:<12} {count:>6}" for name, count in summary.segments.items())
    if summary.wealth_rules:
        lines.append("Who buys wealth management (ml.propensity_rules, surest first):")
        lines.extend(f"  {rule}" for rule in summary.wealth_rules)
    return "\n".join(lines)


def record(url: str, run_id: str, dag_id: str, summary: Summary) -> None:
    """Keep the summary in ops.run_log; a repeated run id replaces its entry."""
    with connect(url) as conn:
        conn.execute(
            "insert into ops.run_log (run_id, dag_id, step, detail) values (%s, %s, 'summary', %s)"
            " on conflict (run_id, dag_id, step) do update set detail = excluded.detail,"
            " logged_at = now()",
            (run_id, dag_id, Jsonb(summary.as_dict(), dumps=partial(json.dumps, default=str))),
        )
