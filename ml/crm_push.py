"""Labels pushed back to the bank's CRM: each customer's segment and lifecycle stage for a
month, so relationship managers see them where they work.

`POST /api/v1/labels` upserts by (customer, month, model version), so a repeated push
replaces rather than duplicates, and a retried request does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ingest.http_client import ApiConnection, PagedApiClient
from ml import lifecycle, segments
from warehouse.db import connect
from warehouse.log import get_logger

log = get_logger("ml.crm_push")

LABELS_PATH = "/api/v1/labels"
# The CRM accepts at most 50,000 labels per request.
BATCH_SIZE = 20_000
# The version the CRM keys the labels by: the two models that made them.
LABEL_VERSION = f"segments-{segments.MODEL_VERSION}+lifecycle-{lifecycle.MODEL_VERSION}"


@dataclass(frozen=True)
class Push:
    as_of_month: date
    labels: int
    requests: int


def month_labels(url: str, as_of_month: date) -> list[dict[str, object]]:
    """The month's segment and lifecycle stage per customer (either may be missing)."""
    with connect(url) as conn:
        rows = conn.execute(
            """
            select
                coalesce(s.customer_id, l.customer_id) as customer_id,
                s.segment_name,
                l.lifecycle_stage
            from (
                select customer_id, segment_name from ml.customer_segments
                where as_of_month = %(month)s and model_version = %(segments)s
            ) as s
            full join (
                select customer_id, lifecycle_stage from ml.customer_lifecycle
                where as_of_month = %(month)s and model_version = %(lifecycle)s
            ) as l on s.customer_id = l.customer_id
            order by 1
            """,
            {
                "month": as_of_month,
                "segments": segments.MODEL_VERSION,
                "lifecycle": lifecycle.MODEL_VERSION,
            },
        ).fetchall()
    month = as_of_month.isoformat()
    return [
        {
            "customer_id": int(customer_id),
            "as_of_month": month,
            "model_version": LABEL_VERSION,
            "segment": segment,
            "lifecycle_stage": stage,
        }
        for customer_id, segment, stage in rows
    ]


def push_labels(url: str, api_uri: str, as_of_month: date) -> Push:
    """Send the month's labels to the CRM in batches; fails loudly if the CRM refuses."""
    labels = month_labels(url, as_of_month)
    if not labels:
        raise ValueError(f"no labels written for {as_of_month:%Y-%m}: nothing to push")
    requests = 0
    with PagedApiClient(ApiConnection.from_uri(api_uri)) as client:
        for start in range(0, len(labels), BATCH_SIZE):
            batch = labels[start : start + BATCH_SIZE]
            requests += 1
            client.post_json(LABELS_PATH, {"labels": batch}, what=f"batch {requests}")
    log.info(
        "pushed %d labels of %s to the CRM in %d request(s)", len(labels), as_of_month, requests
    )
    return Push(as_of_month, len(labels), requests)
