"""HTTP ingestion from the demo CRM API served for real on loopback, with 500s and 429s.

Expectations come from the API itself, paged through with plain httpx calls, not from the
loader's client.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import fresh_database

from ingest.config import load_system
from ingest.extract_http import load_http
from ingest.http_client import ApiConnection, PagedApiClient
from ingest.intervals import business_day
from ingest.landing import LoadError
from ingest.load import Sources, load_entity
from sources.demo_bank.bank import advance, generate
from sources.demo_bank.config import DemoBankConfig, Layout
from sources.demo_bank.crm_api import create_app, serve_in_thread
from warehouse.db import connect
from warehouse.migrate import migrate
from warehouse.settings import Settings

TOKEN = "ingest-test-token"
FIRST_DAY = date(2024, 2, 20)
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]
CRM = load_system("crm")


@pytest.fixture(scope="module")
def core_url(settings: Settings) -> str:
    return fresh_database(settings, "scratch_ingest_http_source")


@pytest.fixture(scope="module")
def bank(core_url: str, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    layout = Layout(tmp_path_factory.mktemp("demo-bank"))
    generate(DemoBankConfig(customers=200, months=3, seed=3), layout, core_url, as_of=FIRST_DAY)
    return layout


@pytest.fixture(scope="module")
def api(bank: Layout) -> Iterator[str]:
    app = create_app(
        bank.world, bank.state_file, TOKEN, rate_per_second=40, burst=5, error_rate=0.15, seed=9
    )
    with serve_in_thread(app) as url:
        yield url


def _load_core(url: str, core_url: str, day: date) -> None:
    """CRM rows reference core-banking customers: that system is loaded first."""
    sources = Sources({"core_banking": core_url}, Path())
    for entity in load_system("core_banking").entities.values():
        load_entity(entity, sources, url, *business_day(day))


def _connection(url: str) -> ApiConnection:
    return ApiConnection.from_uri(url.replace("http://", f"http://:{TOKEN}@"))


class _FastClient(PagedApiClient):
    """The real client with short waits, so retries do not slow the test down."""

    def __init__(self, connection: ApiConnection) -> None:
        super().__init__(
            connection,
            backoff_base=0.01,
            backoff_max=0.05,
            max_attempts=30,
            sleep=lambda s: time.sleep(min(s, 0.05)),
        )
        self.requests = 0

    def pages(self, path, params=None, start_cursor=None):
        self.first_cursor = start_cursor
        for page in super().pages(path, params, start_cursor):
            self.requests += 1
            yield page


def _served(api: str, endpoint: str) -> dict[tuple, str]:
    """Every row the API serves now: key -> updated_at, following cursors by hand."""
    contract = CRM.entity(endpoint)
    rows: dict[tuple, str] = {}
    cursor = None
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            params = {"page_size": "5000", **({"cursor": cursor} if cursor else {})}
            response = client.get(f"{api}/api/v1/{endpoint}", params=params)
            if response.status_code in (429, 500):
                time.sleep(0.05)
                continue
            body = response.json()
            for row in body["data"]:
                rows[tuple(str(row[k]) for k in contract.primary_key)] = row["updated_at"]
            cursor = body["next_cursor"]
            if not cursor:
                return rows


def _latest_in_raw(url: str, entity: str) -> dict[tuple, str]:
    contract = CRM.entity(entity)
    key = ", ".join(f"{k}::text" for k in contract.primary_key)
    with connect(url) as conn:
        rows = conn.execute(
            f"select distinct on ({key}) {key}, updated_at from raw.{contract.raw_table}"
            f" order by {key}, updated_at desc"
        ).fetchall()
    return {tuple(r[:-1]): r[-1] for r in rows}


def test_full_then_daily_then_rerun_equal_what_the_api_serves(
    bank: Layout, core_url: str, api: str, scratch_warehouse: str
) -> None:
    url = scratch_warehouse
    results = {}
    for day in DAYS:
        if day != FIRST_DAY:
            advance(bank, core_url, day)
        _load_core(url, core_url, day)
        for name, entity in CRM.entities.items():
            results[name, day] = load_http(
                entity, _connection(api), url, *business_day(day), client_factory=_FastClient
            )
    assert results["interactions", FIRST_DAY].rows_loaded > 0
    rerun = load_http(
        CRM.entity("interactions"),
        _connection(api),
        url,
        *business_day(DAYS[1]),
        client_factory=_FastClient,
    )
    assert rerun.replaced_batches == 1
    for name in CRM.entities:
        served = _served(api, name)
        landed = _latest_in_raw(url, name)
        assert set(landed) == set(served), name
        for key, stamp in served.items():
            assert (
                landed[key].isoformat().replace("+00:00", "Z")[:19]
                == stamp.replace("+00:00", "Z")[:19]
            ), (name, key)
    with connect(url) as conn:
        counts = conn.execute(
            "select count(*) filter (where rows_received <> rows_loaded + rows_quarantined),"
            " count(*) filter (where rows_quarantined > 0), count(*)"
            " from ops.load_batches where status = 'committed'"
        ).fetchone()
        left = conn.execute("select count(*) from ops.extract_checkpoints").fetchone()[0]
    assert counts[0] == 0 and counts[1] == 0 and counts[2] >= 15
    assert left == 0, "checkpoints leave with the committed batch"


def test_an_interrupted_extraction_resumes_from_the_last_cursor(
    settings: Settings, bank: Layout, core_url: str, api: str
) -> None:
    url = fresh_database(settings, "scratch_ingest_http_resume")
    migrate(url)
    _load_core(url, core_url, DAYS[-1])
    load_entity(
        CRM.entity("relationship_managers"),
        Sources({"crm_api": _connection(api).to_uri()}, Path()),
        url,
        *business_day(DAYS[-1]),
    )
    original = CRM.entity("rm_assignments")
    entity = dataclasses.replace(original, options={**original.options, "page_size": 10})
    day = business_day(DAYS[-1])

    def crash_after_three(number: int) -> None:
        if number == 3:
            raise ConnectionError("worker lost")

    with pytest.raises(LoadError, match="worker lost"):
        load_http(
            entity,
            _connection(api),
            url,
            *day,
            client_factory=_FastClient,
            page_hook=crash_after_three,
        )
    with connect(url) as conn:
        stored = conn.execute("select count(*) from ops.extract_checkpoints").fetchone()[0]
        landed = conn.execute("select to_regclass('raw.crm__rm_assignments')").fetchone()[0]
    assert stored == 3 and landed is None, "pages are kept; rows land only on commit"

    clients: list[_FastClient] = []

    def factory(connection: ApiConnection) -> _FastClient:
        clients.append(_FastClient(connection))
        return clients[-1]

    result = load_http(entity, _connection(api), url, *day, client_factory=factory)
    served = _served(api, "rm_assignments")
    assert result.rows_loaded == len(served)
    assert clients[0].first_cursor is not None, "the second run starts from the stored cursor"
    total_pages = -(-len(served) // 10)
    assert clients[0].requests == total_pages - 3
    assert set(_latest_in_raw(url, "rm_assignments")) == set(served)


def test_the_token_comes_from_the_connection_and_a_bad_one_fails_clearly(
    bank: Layout, api: str, scratch_warehouse: str
) -> None:
    wrong = Sources({"crm_api": api.replace("http://", "http://:not-the-token@")}, bank.data_dir)
    with pytest.raises(LoadError, match="401") as failure:
        load_entity(CRM.entity("campaigns"), wrong, scratch_warehouse, *business_day(DAYS[0]))
    assert "not-the-token" not in str(failure.value)
