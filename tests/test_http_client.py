"""The paged HTTP client against real servers on loopback: the demo CRM API, and a tiny
scripted ``http.server`` where an exact status, header or body is the point.

No part of httpx is mocked; waits go through an injected ``sleep`` that records them.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.http_client import ApiConnection, HttpSourceError, Page, PagedApiClient
from sources.demo_bank.crm_api import create_app, serve_in_thread

TOKEN = "crm-test-token-7f3a"
PATH = "/api/v1/interactions"
T0 = datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
N_ROWS = 37

# --------------------------------------------------------------------------- helpers


class Sleeps:
    """An injected ``sleep``: records each wait and sleeps ``scale`` times it (0: not at all)."""

    def __init__(self, scale: float = 0.0) -> None:
        self.scale = scale
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.scale:
            time.sleep(seconds * self.scale)


def interactions() -> list[dict[str, Any]]:
    """Rows in the CRM contract's columns; updated_at ties in threes cross page edges."""
    return [
        {
            "interaction_id": i,
            "customer_id": 5000 + i % 11,
            "rm_id": None if i % 6 == 0 else f"RM{i % 4:03d}",
            "interaction_ts": T0 + timedelta(hours=i // 3, minutes=-30),
            "channel": ["call", "visit", "wechat", "sms"][i % 4],
            "purpose": "service",
            "campaign_id": 9 if i % 5 == 0 else None,
            "outcome": "客户满意" if i % 2 else "done",
            "updated_at": T0 + timedelta(hours=i // 3),
        }
        for i in range(1, N_ROWS + 1)
    ]


TYPES = {
    "interaction_id": pa.int64(),
    "customer_id": pa.int64(),
    "rm_id": pa.string(),
    "interaction_ts": pa.timestamp("us", tz="UTC"),
    "channel": pa.string(),
    "purpose": pa.string(),
    "campaign_id": pa.int64(),
    "outcome": pa.string(),
    "updated_at": pa.timestamp("us", tz="UTC"),
}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    rows = interactions()
    folder = tmp_path / "world" / "crm" / "interactions"
    folder.mkdir(parents=True)
    # Written in reverse over two files, so the API's (updated_at, key) order is its own work.
    table = pa.table({c: pa.array([r[c] for r in reversed(rows)], t) for c, t in TYPES.items()})
    pq.write_table(table.slice(0, 20), folder / "a.parquet")
    pq.write_table(table.slice(20), folder / "b.parquet")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bank_date": "2024-01-10"}), encoding="utf-8")
    return {"rows": rows, "world_dir": tmp_path / "world", "state": state}


@pytest.fixture
def crm(world: dict[str, Any]) -> Iterator[Callable[..., str]]:
    """Start a demo CRM API (own app per call, ``create_app`` keywords) and return its URL."""
    with ExitStack() as stack:

        def _start(**kwargs: Any) -> str:
            app = create_app(world["world_dir"], world["state"], TOKEN, **kwargs)
            return stack.enter_context(serve_in_thread(app))

        yield _start


def client_for(url: str, token: str = TOKEN, **kwargs: Any) -> PagedApiClient:
    kwargs.setdefault("sleep", Sleeps())
    return PagedApiClient(ApiConnection(url, token), **kwargs)


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["interaction_id"] for r in rows]


def all_rows(pages: list[Page]) -> list[dict[str, Any]]:
    return [row for page in pages for row in page.rows]


Reply = tuple[int, dict[str, str], bytes]


class Scripted:
    """A one-thread-per-connection HTTP/1.1 server answering GETs from a script of replies.

    The last reply repeats once the script runs out; ``delay_first`` stalls the first
    answer (to make a client time out). Requests are recorded as (path, headers, port).
    """

    def __init__(self, replies: list[Reply], delay_first: float = 0.0) -> None:
        self.replies = list(replies)
        self.delay_first = delay_first
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._lock = threading.Lock()
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway

            def do_GET(self) -> None:
                with script._lock:
                    script.requests.append(
                        (self.path, dict(self.headers.items()), self.client_address[1])
                    )
                    first = len(script.requests) == 1
                    status, headers, body = (
                        script.replies.pop(0) if len(script.replies) > 1 else script.replies[0]
                    )
                if first and script.delay_first:
                    time.sleep(script.delay_first)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def _start(replies: list[Reply], delay_first: float = 0.0) -> Scripted:
        servers.append(Scripted(replies, delay_first))
        return servers[-1]

    yield _start
    for server in servers:
        server.close()


def ok(rows: list[dict[str, Any]], next_cursor: str | None = None) -> Reply:
    body = {"data": rows, "next_cursor": next_cursor, "bank_date": "2024-01-10"}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def error(status: int, detail: str, **headers: str) -> Reply:
    body = json.dumps({"error": "some_code", "detail": detail}).encode()
    return status, {"Content-Type": "application/json", **headers}, body


# --------------------------------------------------------------------------- the demo CRM


def test_pages_walk_every_row_once_in_api_order(
    crm: Callable[..., str], world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    url = crm()
    with client_for(url) as client:
        whole = list(client.pages(PATH, {"page_size": "5000"}))
        caplog.set_level(logging.INFO, logger="crm.ingest.http")
        pages = list(client.pages(PATH, {"page_size": "4"}))
    assert len(whole) == 1 and whole[0].next_cursor is None and whole[0].cursor is None
    assert len(whole[0].rows) == N_ROWS
    assert ids(whole[0].rows) == ids(world["rows"])  # written reversed, served in order
    assert whole[0].rows[1]["outcome"] == "done" and whole[0].rows[0]["outcome"] == "客户满意"

    assert len(pages) == 10 and [p.number for p in pages] == list(range(1, 11))
    assert all_rows(pages) == whole[0].rows
    assert [len(p.rows) for p in pages] == [4] * 9 + [1]
    assert pages[0].cursor is None and pages[-1].next_cursor is None
    for before, after in itertools.pairwise(pages):
        assert after.cursor == before.next_cursor is not None
    done = [r.getMessage() for r in caplog.records if r.name == "crm.ingest.http"]
    assert any(f"{N_ROWS} rows in 10 pages" in m and "pages/s" in m for m in done), done


def test_updated_since_is_passed_through_exclusive(
    crm: Callable[..., str], world: dict[str, Any]
) -> None:
    since = world["rows"][14]["updated_at"]  # interactions 15, 16 and 17 share this time
    want = [r["interaction_id"] for r in world["rows"] if r["updated_at"] > since]
    with client_for(crm()) as client:
        pages = list(client.pages(PATH, {"updated_since": since.isoformat(), "page_size": "5"}))
    assert ids(all_rows(pages)) == want == list(range(18, N_ROWS + 1)) and len(pages) == 4
    assert all(datetime.fromisoformat(r["updated_at"]) > since for r in all_rows(pages))


def test_resume_from_a_page_cursor_gives_exactly_the_rest(crm: Callable[..., str]) -> None:
    with client_for(crm()) as client:
        pages = list(client.pages(PATH, {"page_size": "4"}))
        resumed = list(client.pages(PATH, {"page_size": "4"}, start_cursor=pages[1].next_cursor))
        again = list(client.pages(PATH, {"page_size": "4"}, start_cursor=pages[1].cursor))
    assert all_rows(resumed) == all_rows(pages[2:])
    assert resumed[0].cursor == pages[1].next_cursor and resumed[0].number == 1
    assert all_rows(again) == all_rows(pages[1:])  # page 2's own cursor re-reads page 2


def test_faults_and_rate_limits_are_retried_to_the_same_rows(
    crm: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(crm()) as client:
        want = all_rows(list(client.pages(PATH, {"page_size": "5000"})))
    # 30% injected 500s and a bucket of 2 refilled at 10/s; the client's waits run at a
    # tenth of real time, so Retry-After 1 s lets exactly one token refill.
    url = crm(error_rate=0.3, rate_per_second=10, burst=2, seed=11)
    sleeps = Sleeps(scale=0.1)
    caplog.set_level(logging.WARNING, logger="crm.ingest.http")
    with client_for(url, sleep=sleeps, max_attempts=15) as client:
        pages = list(client.pages(PATH, {"page_size": "3"}))
    assert all_rows(pages) == want and len(pages) == 13
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == len(sleeps.delays)
    faults = [m for m in retries if "HTTP 500" in m]
    limited = [(m, d) for m, d in zip(retries, sleeps.delays, strict=True) if "HTTP 429" in m]
    assert faults and "simulated CRM server error" in faults[0]
    assert limited, retries
    assert all(d >= 1 for _, d in limited)  # the server's Retry-After is at least 1 s
    assert all(TOKEN not in m for m in retries)


def test_refused_token_fails_at_once_without_showing_tokens(crm: Callable[..., str]) -> None:
    sleeps = Sleeps()
    wrong = "wrong-secret-token-99"
    with (
        client_for(crm(), token=wrong, sleep=sleeps) as client,
        pytest.raises(HttpSourceError) as caught,
    ):
        list(client.pages(PATH))
    message = str(caught.value)
    assert PATH in message and "401" in message and "token was refused" in message
    assert "1 attempt" in message and wrong not in message and TOKEN not in message
    assert caught.value.status == 401 and caught.value.attempts == 1 and sleeps.delays == []


def test_unknown_entity_and_bad_parameter_fail_at_once(crm: Callable[..., str]) -> None:
    sleeps = Sleeps()
    with client_for(crm(), sleep=sleeps) as client:
        with pytest.raises(HttpSourceError) as caught:
            list(client.pages("/api/v1/no_such_thing"))
        message = str(caught.value)
        assert "/api/v1/no_such_thing" in message and "404" in message
        assert "unknown_entity" in message and "interactions" in message  # server's detail
        with pytest.raises(HttpSourceError, match=r"HTTP 400 .*page_size"):
            list(client.pages(PATH, {"page_size": "0"}))
        with pytest.raises(ValueError, match="start_cursor"):
            client.pages(PATH, {"cursor": "x"})
    assert sleeps.delays == []


# --------------------------------------------------------------------------- exact replies


def test_retry_after_seconds_is_honoured_on_one_kept_alive_connection(
    scripted: Callable[..., Scripted],
) -> None:
    server = scripted([error(429, "slow down", **{"Retry-After": "2"}), ok([{"a": 1}])])
    sleeps = Sleeps()
    connection = ApiConnection.from_uri(f"http://:{quote('t/k:n@1', safe='')}@{server.url[7:]}/gw/")
    with PagedApiClient(connection, sleep=sleeps) as client:
        pages = list(client.pages("/api/v1/x", {"updated_since": "2024-01-01T00:00:00+00:00"}))
    assert [p.rows for p in pages] == [[{"a": 1}]]
    assert len(sleeps.delays) == 1 and 2 <= sleeps.delays[0] <= 2.5
    (path1, headers, port1), (path2, _, port2) = server.requests
    assert path1 == path2 == "/gw/api/v1/x?updated_since=2024-01-01T00%3A00%3A00%2B00%3A00"
    assert headers["Authorization"] == "Bearer t/k:n@1"
    assert port1 == port2  # the same keep-alive connection after the 429


def test_retry_after_http_date_and_too_long_waits(scripted: Callable[..., Scripted]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    server = scripted([error(503, "maintenance", **{"Retry-After": when}), ok([])])
    sleeps = Sleeps()
    with client_for(server.url, sleep=sleeps) as client:
        assert [p.rows for p in client.pages("/x")] == [[]]
    assert len(sleeps.delays) == 1 and 2.5 <= sleeps.delays[0] <= 4.5

    server = scripted([error(429, "come back later", **{"Retry-After": "3600"})])
    sleeps = Sleeps()
    with (
        client_for(server.url, sleep=sleeps) as client,
        pytest.raises(
            HttpSourceError, match=r"HTTP 429 after 1 attempt: .*come back later.*3600 s"
        ),
    ):
        list(client.pages("/x"))
    assert sleeps.delays == []


def test_always_500_gives_up_after_max_attempts(scripted: Callable[..., Scripted]) -> None:
    server = scripted([error(500, "disk on fire")])
    sleeps = Sleeps()
    client = client_for(server.url, sleep=sleeps, max_attempts=4, backoff_base=1)
    with client, pytest.raises(HttpSourceError) as caught:
        list(client.pages("/api/v1/interactions"))
    message = str(caught.value)
    assert "gave up after 4 attempts" in message and "HTTP 500" in message
    assert "disk on fire" in message and "/api/v1/interactions" in message
    assert len(server.requests) == 4 and caught.value.attempts == 4
    # Full jitter: each wait lies within its doubling cap.
    assert len(sleeps.delays) == 3
    assert all(0 <= d <= cap for d, cap in zip(sleeps.delays, (1, 2, 4), strict=True))


def test_connection_errors_and_timeouts_are_retried(scripted: Callable[..., Scripted]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    client = client_for(f"http://127.0.0.1:{port}", sleep=sleeps, max_attempts=3)
    with client, pytest.raises(HttpSourceError, match=r"gave up after 3 attempts; last: no resp"):
        list(client.pages("/x"))
    assert len(sleeps.delays) == 2

    server = scripted([ok([{"a": 1}])], delay_first=0.6)
    sleeps = Sleeps()
    with client_for(server.url, sleep=sleeps, timeout=0.2) as client:
        assert [p.rows for p in client.pages("/x")] == [[{"a": 1}]]
    assert len(sleeps.delays) == 1 and len(server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ((200, {"Content-Type": "text/html"}, b"<html>login</html>"), "not JSON .*<html>"),
        ((200, {}, json.dumps({"items": []}).encode()), "no 'data' field .*items"),
        ((200, {}, json.dumps({"data": {"a": 1}}).encode()), "'data' field that is not a list"),
        ((200, {}, json.dumps({"data": [], "next_cursor": 5}).encode()), "next_cursor"),
        ((302, {"Location": "http://elsewhere/"}, b""), "HTTP 302 .*redirect"),
    ],
)
def test_unexpected_bodies_fail_at_once_naming_the_problem(
    scripted: Callable[..., Scripted], reply: Reply, expected: str
) -> None:
    server = scripted([reply])
    with client_for(server.url) as client, pytest.raises(HttpSourceError, match=expected):
        list(client.pages("/api/v1/x"))
    assert len(server.requests) == 1


def test_a_repeated_cursor_stops_instead_of_looping(scripted: Callable[..., Scripted]) -> None:
    server = scripted([ok([{"a": 1}], "c1"), ok([{"a": 2}], "c1")])
    with client_for(server.url) as client, pytest.raises(HttpSourceError, match="own cursor"):
        list(client.pages("/x"))
    assert [r[0] for r in server.requests] == ["/x", "/x?cursor=c1"]


# --------------------------------------------------------------------------- connection


def test_connection_uri_round_trips_and_hides_the_token() -> None:
    token = "p@ss:w/rd %#?&=+ 令牌"
    uri = f"http://ignored-login:{quote(token, safe='')}@127.0.0.1:8765"
    connection = ApiConnection.from_uri(uri)
    assert connection == ApiConnection("http://127.0.0.1:8765", token)
    assert ApiConnection.from_uri(connection.to_uri()) == connection
    for shown in (repr(connection), str(connection), repr(client_for(connection.base_url))):
        assert "p@ss" not in shown and quote(token, safe="") not in shown and "***" in shown

    prefixed = ApiConnection.from_uri("HTTPS://:tok@CRM.Bank.example/gateway/crm/")
    assert prefixed.base_url == "https://crm.bank.example/gateway/crm"
    assert ApiConnection.from_uri("http://:tok@[::1]:80").base_url == "http://[::1]:80"
    assert ApiConnection.from_uri("http://:demo-crm-token@127.0.0.1:8765").token == (
        "demo-crm-token"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://:s3cret-tok@", "no host"),
        ("http://127.0.0.1:8765", "no token"),
        ("http://s3cret-tok@127.0.0.1:8765", "no token"),
        ("ftp://:s3cret-tok@127.0.0.1", "http:// or https://"),
        ("http://:s3cret-tok@127.0.0.1:99999", "invalid port"),
    ],
)
def test_bad_connection_uris_are_refused_clearly(uri: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        ApiConnection.from_uri(uri)
    assert "s3cret" not in str(caught.value)
