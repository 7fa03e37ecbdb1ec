"""The demo CRM API, served for real by uvicorn on a loopback port and spoken to over HTTP.

A small world store is written per test: several Parquet files per entity, some keys with
several versions, some versions after the bank date; expectations are computed here by
plain Python from the same rows, not by the server's code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import load_contract
from sources.demo_bank.crm_api import EntityStore, create_app, page_of, serve, serve_in_thread

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)

TYPES = {
    "rm_id": pa.string(),
    "full_name": pa.string(),
    "branch_code": pa.string(),
    "title": pa.string(),
    "hired_on": pa.date32(),
    "left_on": pa.date32(),
    "assignment_id": pa.int64(),
    "customer_id": pa.int64(),
    "valid_from": pa.date32(),
    "valid_to": pa.date32(),
    "interaction_id": pa.int64(),
    "interaction_ts": pa.timestamp("us", tz="UTC"),
    "channel": pa.string(),
    "purpose": pa.string(),
    "campaign_id": pa.int64(),
    "outcome": pa.string(),
    "name": pa.string(),
    "product_code": pa.string(),
    "start_date": pa.date32(),
    "end_date": pa.date32(),
    "response_id": pa.int64(),
    "contacted_at": pa.timestamp("us", tz="UTC"),
    "responded_at": pa.timestamp("us", tz="UTC"),
    "response": pa.string(),
    "updated_at": pa.timestamp("us", tz="UTC"),
}


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows[0])
    table = pa.table({n: pa.array([r[n] for r in rows], TYPES[n]) for n in names})
    pq.write_table(table, path)


def write_state(state_file: Path, bank_date: str) -> None:
    """As the generator should: write aside, then rename over the old file."""
    tmp = state_file.with_name(state_file.name + ".tmp")
    tmp.write_text(json.dumps({"bank_date": bank_date}), encoding="utf-8")
    tmp.replace(state_file)


def interaction(i: int, updated: datetime, outcome: str = "done") -> dict[str, Any]:
    return {
        "interaction_id": i,
        "customer_id": 1000 + i % 7,
        "rm_id": None if i % 5 == 0 else f"RM{i % 3:03d}",
        "interaction_ts": updated - timedelta(hours=1),
        "channel": ["call", "visit", "wechat"][i % 3],
        "purpose": "service",
        "campaign_id": None if i % 2 else 7,
        "outcome": outcome,
        "updated_at": updated,
    }


def build_world(root: Path) -> dict[str, list[dict[str, Any]]]:
    """World store for bank date 2024-01-10 (cut-off 2024-01-11T00:00Z); all rows returned."""
    crm = root / "world" / "crm"
    rows: dict[str, list[dict[str, Any]]] = {}
    # Interactions: 60 in one month file, many sharing one updated_at (a tie run across pages),
    # then a second file with new versions of some and rows after the bank date.
    first = [interaction(i, T0 + timedelta(hours=i // 4)) for i in range(1, 41)]
    first += [interaction(i, T0 + timedelta(days=2)) for i in range(41, 61)]
    second = [interaction(i, T0 + timedelta(days=3, minutes=i), "updated") for i in (3, 17, 45)]
    second += [interaction(i, T0 + timedelta(days=9, hours=14, minutes=59)) for i in (61, 62)]
    second += [interaction(i, datetime(2024, 1, 11, tzinfo=UTC)) for i in (63,)]  # at cut-off
    second += [interaction(5, T0 + timedelta(days=12), "late")]  # newer version, later
    write_parquet(crm / "interactions" / "2024-01-a.parquet", first)
    write_parquet(crm / "interactions" / "2024-01-b.parquet", second)
    rows["interactions"] = first + second

    assignments = [
        {
            "assignment_id": a,
            "customer_id": 1000 + a,
            "rm_id": f"RM{a % 3:03d}",
            "valid_from": date(2023, 12, 1),
            "valid_to": None,
            "updated_at": T0 + timedelta(minutes=a),
        }
        for a in (1, 2, 3)
    ]
    ended = dict(assignments[0], valid_to=date(2024, 1, 12), updated_at=T0 + timedelta(days=11))
    write_parquet(crm / "rm_assignments" / "part-0.parquet", assignments)
    write_parquet(crm / "rm_assignments" / "part-1.parquet", [ended])
    rows["rm_assignments"] = [*assignments, ended]

    managers = [
        {
            "rm_id": f"RM{r:03d}",
            "full_name": f"王经理{r}",
            "branch_code": "BJ001",
            "title": "RM",
            "hired_on": date(2020, 1, 1),
            "left_on": None,
            "updated_at": T0,
        }
        for r in range(3)
    ]
    write_parquet(crm / "relationship_managers" / "all.parquet", managers)
    rows["relationship_managers"] = managers
    return rows


def expected(rows: list[dict[str, Any]], key: str, bank_date: str) -> list[tuple[Any, Any]]:
    """(key, updated_at) of latest visible versions in API order, computed naively."""
    cutoff = datetime.fromisoformat(bank_date).replace(tzinfo=UTC) + timedelta(days=1)
    latest: dict[Any, datetime] = {}
    for row in rows:
        if row["updated_at"] < cutoff:
            latest[row[key]] = max(latest.get(row[key], row["updated_at"]), row["updated_at"])
    return sorted(((k, ts) for k, ts in latest.items()), key=lambda kt: (kt[1], kt[0]))


def walk(client: httpx.Client, entity: str, **params: Any) -> list[dict[str, Any]]:
    records, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get(f"/api/v1/{entity}", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["data"]
        cursor, pages = body["next_cursor"], pages + 1
        assert pages < 100
        if cursor is None:
            return records


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    rows = build_world(tmp_path)
    state = tmp_path / "state.json"
    write_state(state, "2024-01-10")
    return {"rows": rows, "world_dir": tmp_path / "world", "state": state}


@pytest.fixture
def start(world: dict[str, Any]) -> Iterator[Callable[..., httpx.Client]]:
    """Start a real server (own app instance each call) and return a client for it."""
    with ExitStack() as stack:

        def _start(auth: bool = True, **kwargs: Any) -> httpx.Client:
            app = create_app(world["world_dir"], world["state"], TOKEN, **kwargs)
            url = stack.enter_context(serve_in_thread(app))
            headers = AUTH if auth else {}
            return stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=10))

        yield _start


def keys_and_ts(records: list[dict[str, Any]], key: str) -> list[tuple[Any, datetime]]:
    return [(r[key], datetime.fromisoformat(r["updated_at"])) for r in records]


def test_pagination_walks_every_visible_record_once(
    start: Callable[..., httpx.Client], world: dict[str, Any]
) -> None:
    client = start()
    want = expected(world["rows"]["interactions"], "interaction_id", "2024-01-10")
    for page_size in (1, 7, 20, 500):  # 7 and 20 split the run of equal updated_at
        records = walk(client, "interactions", page_size=page_size)
        assert keys_and_ts(records, "interaction_id") == want
    assert {61, 62} <= {k for k, _ in want} and 63 not in {k for k, _ in want}
    first = client.get("/api/v1/interactions", params={"page_size": 7}).json()
    assert first["bank_date"] == "2024-01-10" and len(first["data"]) == 7
    assert first["next_cursor"]


def test_latest_visible_version_wins_and_values_are_typed(
    start: Callable[..., httpx.Client],
) -> None:
    client = start()
    by_id = {r["interaction_id"]: r for r in walk(client, "interactions")}
    assert by_id[3]["outcome"] == "updated"
    assert by_id[5]["outcome"] == "done"  # its "late" version is after the bank date
    rec = by_id[10]
    assert rec == {
        "interaction_id": 10,
        "customer_id": 1003,
        "rm_id": None,
        "interaction_ts": "2024-01-01T10:00:00+00:00",
        "channel": "visit",
        "purpose": "service",
        "campaign_id": 7,
        "outcome": "done",
        "updated_at": "2024-01-01T11:00:00+00:00",
    }
    assert by_id[11]["campaign_id"] is None
    managers = walk(client, "relationship_managers")
    assert managers[0]["full_name"] == "王经理0" and managers[0]["hired_on"] == "2020-01-01"
    assert managers[0]["left_on"] is None


def test_later_versions_appear_when_the_bank_date_advances(
    start: Callable[..., httpx.Client], world: dict[str, Any]
) -> None:
    client = start()
    assignments = {r["assignment_id"]: r for r in walk(client, "rm_assignments")}
    assert assignments[1]["valid_to"] is None and len(assignments) == 3
    write_state(world["state"], "2024-01-13")
    body = client.get("/api/v1/rm_assignments").json()
    assert body["bank_date"] == "2024-01-13"
    assignments = {r["assignment_id"]: r for r in body["data"]}
    assert assignments[1]["valid_to"] == "2024-01-12"
    assert [r["assignment_id"] for r in body["data"]] == [2, 3, 1]  # moved to the end
    records = walk(client, "interactions")
    assert keys_and_ts(records, "interaction_id") == expected(
        world["rows"]["interactions"], "interaction_id", "2024-01-13"
    )
    assert {r["interaction_id"]: r["outcome"] for r in records}[5] == "late"
    assert 63 in {r["interaction_id"] for r in records}
    assert client.get("/api/v1/health").json() == {"status": "ok", "bank_date": "2024-01-13"}


def test_new_files_are_picked_up_while_serving(
    start: Callable[..., httpx.Client], world: dict[str, Any]
) -> None:
    client = start()
    assert walk(client, "campaigns") == []  # no folder yet: an empty entity, not an error
    campaign = {
        "campaign_id": 7,
        "name": "春节理财",
        "product_code": "WM01",
        "channel": "sms",
        "start_date": date(2024, 1, 5),
        "end_date": date(2024, 2, 5),
        "updated_at": T0,
    }
    write_parquet(world["world_dir"] / "crm" / "campaigns" / "2024-01.parquet", [campaign])
    records = walk(client, "campaigns")
    assert records == [
        dict(
            campaign,
            start_date="2024-01-05",
            end_date="2024-02-05",
            updated_at="2024-01-01T09:00:00+00:00",
        )
    ]


def test_updated_since_is_exclusive(
    start: Callable[..., httpx.Client], world: dict[str, Any]
) -> None:
    client = start()
    since = T0 + timedelta(days=2)  # the tie run's timestamp: all of it is excluded
    want = [
        kt
        for kt in expected(world["rows"]["interactions"], "interaction_id", "2024-01-10")
        if kt[1] > since
    ]
    for text in (since.isoformat(), "2024-01-03T09:00:00Z", "2024-01-03T09:00:00"):
        records = walk(client, "interactions", updated_since=text, page_size=2)
        assert keys_and_ts(records, "interaction_id") == want, text
    # An unencoded "+" arrives as a space; the server still reads the offset.
    url = "/api/v1/interactions?updated_since=2024-01-03T09:00:00+00:00"
    assert keys_and_ts(client.get(url).json()["data"], "interaction_id") == want


def test_resume_from_a_cursor(start: Callable[..., httpx.Client]) -> None:
    client = start()
    everything = walk(client, "interactions")
    first = client.get("/api/v1/interactions", params={"page_size": 25}).json()
    cursor = first["next_cursor"]
    # The "client" failed here; the same cursor answers the same page again, and the rest
    # follows with no gap and no repeat.
    again = [
        client.get("/api/v1/interactions", params={"page_size": 25, "cursor": cursor}).json()
        for _ in range(2)
    ]
    assert again[0] == again[1]
    rest = walk(client, "interactions", page_size=25, cursor=cursor)
    assert first["data"] + rest == everything


def test_authentication(start: Callable[..., httpx.Client]) -> None:
    client = start(auth=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/api/v1/interactions", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"] == "unauthorized"
    assert client.post("/api/v1/labels", json={"labels": []}).status_code == 401
    assert client.get("/api/v1/health").json() == {"status": "ok", "bank_date": "2024-01-10"}
    assert client.get("/api/v1/interactions", headers=AUTH).status_code == 200


def test_rate_limit(start: Callable[..., httpx.Client]) -> None:
    client = start(rate_per_second=0.2, burst=3)
    codes = [client.get("/api/v1/campaigns").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = client.get("/api/v1/campaigns")
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 5
    assert limited.json()["error"] == "rate_limited"


def test_injected_errors_are_seeded(start: Callable[..., httpx.Client]) -> None:
    runs = []
    for seed in (7, 7, 8):
        client = start(error_rate=0.3, seed=seed, rate_per_second=1e6, burst=10**6)
        codes = [client.get("/api/v1/relationship_managers").status_code for _ in range(100)]
        assert set(codes) == {200, 500}
        assert 15 <= codes.count(500) <= 45
        runs.append(codes)
    assert runs[0] == runs[1] and runs[0] != runs[2]
    failed = client.get("/api/v1/relationship_managers")
    while failed.status_code != 500:
        failed = client.get("/api/v1/relationship_managers")
    assert failed.json()["error"] == "injected_fault"


def test_labels_are_idempotent_and_survive_a_restart(
    start: Callable[..., httpx.Client], world: dict[str, Any]
) -> None:
    client = start()
    labels = [
        {
            "customer_id": 1001,
            "as_of_month": "2024-01-01",
            "model_version": "seg-v1",
            "segment": "高净值",
            "lifecycle_stage": "growth",
        },
        {
            "customer_id": 1002,
            "as_of_month": "2024-01-01",
            "model_version": "seg-v1",
            "segment": None,
            "lifecycle_stage": "dormant",
        },
    ]
    for _ in range(2):
        response = client.post("/api/v1/labels", json={"labels": labels})
        assert response.status_code == 200 and response.json() == {"accepted": 2}
    replaced = dict(labels[0], segment="mass")
    assert client.post("/api/v1/labels", json={"labels": [replaced]}).json() == {"accepted": 1}
    other_model = dict(labels[0], model_version="seg-v2")
    client.post("/api/v1/labels", json={"labels": [other_model]})

    stored = client.get("/api/v1/labels", params={"customer_id": 1001}).json()["data"]
    assert [(s["model_version"], s["segment"]) for s in stored] == [
        ("seg-v1", "mass"),
        ("seg-v2", "高净值"),
    ]
    assert (world["state"].parent / "crm_labels.sqlite").exists()

    restarted = start()  # a new app instance over the same state folder
    stored = restarted.get("/api/v1/labels").json()
    assert [(s["customer_id"], s["model_version"]) for s in stored["data"]] == [
        (1001, "seg-v1"),
        (1001, "seg-v2"),
        (1002, "seg-v1"),
    ]
    assert stored["data"][2]["segment"] is None
    page = restarted.get("/api/v1/labels", params={"page_size": 2}).json()
    rest = restarted.get("/api/v1/labels", params={"cursor": page["next_cursor"]}).json()
    assert page["data"] + rest["data"] == stored["data"] and rest["next_cursor"] is None


def test_bad_labels_are_refused_whole(start: Callable[..., httpx.Client]) -> None:
    client = start()
    good = {"customer_id": 9, "as_of_month": "2024-01-01", "model_version": "v"}
    cases = [
        (dict(good, customer_id="1"), "customer_id"),
        (dict(good, customer_id=True), "customer_id"),
        (dict(good, as_of_month="2024-01-15"), "as_of_month"),
        (dict(good, as_of_month="2024-13-01"), "as_of_month"),
        (dict(good, model_version=""), "model_version"),
        (dict(good, segment=3), "segment"),
        (dict(good, x=1), "x"),
    ]
    for label, field in cases:
        response = client.post("/api/v1/labels", json={"labels": [good, label]})
        assert response.status_code == 422, label
        body = response.json()
        assert (body["index"], body["field"]) == (1, field)
        assert f"labels[1].{field}" in body["detail"]
    for body in ({"labels": "x"}, {"rows": []}, [good]):
        response = client.post("/api/v1/labels", json=body)
        assert response.status_code == 422 and response.json()["field"] == "labels"
    assert client.get("/api/v1/labels").json()["data"] == []  # no batch partly stored


def test_bad_parameters_name_the_parameter(start: Callable[..., httpx.Client]) -> None:
    client = start()
    cases = [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "5001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"updatedSince": "2024-01-01"}, "updatedSince"),
    ]
    for params, name in cases:
        response = client.get("/api/v1/interactions", params=params)
        assert response.status_code == 400, params
        assert response.json()["parameter"] == name
    other = client.get("/api/v1/rm_assignments", params={"page_size": 1}).json()["next_cursor"]
    response = client.get("/api/v1/interactions", params={"cursor": other})
    assert response.status_code == 400 and response.json()["parameter"] == "cursor"
    assert client.get("/api/v1/labels", params={"customer_id": "x"}).json()["parameter"] == (
        "customer_id"
    )
    response = client.get("/api/v1/accounts")
    assert response.status_code == 404 and response.json()["error"] == "unknown_entity"
    response = client.post("/api/v1/labels", content=b"{not json")
    assert response.status_code == 400 and response.json()["field"] == "body"
    assert client.get("/api/v1/interactions", params={"page_size": "5000"}).status_code == 200


def test_only_loopback_hosts(world: dict[str, Any]) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            serve(world["world_dir"], world["state"], TOKEN, host=host, port=1)
    app = create_app(world["world_dir"], world["state"], TOKEN)
    with pytest.raises(ValueError, match="loopback"), serve_in_thread(app, host="0.0.0.0"):
        pass


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paging_matches_a_naive_reading_of_random_histories(tmp_path: Path, seed: int) -> None:
    """Text keys, ties on updated_at, repeated versions across files, random cut-offs."""
    rng = random.Random(seed)
    folder = tmp_path / "relationship_managers"
    rows = []
    for part in range(3):
        batch = [
            {
                "rm_id": f"R{rng.randrange(40)}",  # text key, "R10" < "R9"
                "full_name": rng.choice(["张", "李"]),
                "branch_code": "BJ001",
                "title": f"v{part}-{i}",
                "hired_on": date(2020, 1, 1),
                "left_on": rng.choice([None, date(2024, 1, 2)]),
                "updated_at": T0 + timedelta(hours=rng.randrange(30)),
            }
            for i in range(60)
        ]
        write_parquet(folder / f"{part}.parquet", batch)
        rows += batch
    snapshot = EntityStore(load_contract("crm")["relationship_managers"], folder).snapshot()
    for _ in range(5):
        cutoff = T0 + timedelta(hours=rng.randrange(32))
        cutoff_us = int(cutoff.timestamp()) * 1_000_000
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:  # the last file's copy wins on an equal updated_at
            if row["updated_at"] < cutoff and (
                row["rm_id"] not in latest
                or row["updated_at"] >= latest[row["rm_id"]]["updated_at"]
            ):
                latest[row["rm_id"]] = row
        want = sorted(((r["updated_at"], k, r["title"]) for k, r in latest.items()))
        got, cursor = [], None
        page_size = rng.choice([1, 3, 7, 100])
        while True:
            data, cursor = page_of(
                snapshot, "relationship_managers", cutoff_us, page_size, None, cursor
            )
            got += [(datetime.fromisoformat(r["updated_at"]), r["rm_id"], r["title"]) for r in data]
            if cursor is None:
                break
        assert got == want
