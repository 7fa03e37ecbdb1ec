"""The demo bank's CRM system: an HTTP JSON API over the world store's CRM history.

A real CRM is pulled over REST with cursor pagination, a bearer token, rate limits and the
odd server error; this server plays that system so the ingest stage is built and tested
against the same failure modes it meets in a bank. It serves, for each record key, the
latest version whose ``updated_at`` falls before the end of the bank date, and takes
label write-back (segments, lifecycle stages) from the models, as a bank's CRM would.

Data: ``<world_dir>/crm/<entity>/*.parquet`` with the columns of ``ingest/config/crm.yml``;
the bank date: ``{"bank_date": "YYYY-MM-DD"}`` in ``state_file``. Both are re-read when
they change, so the generator's ``advance`` shows up while the server runs.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import ipaddress
import json
import math
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.config import EntityContract, load_contract
from warehouse.log import get_logger

log = get_logger("sources.demo_bank.crm_api")

API_PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
MAX_LABELS_PER_POST = 50_000
LABELS_FILE = "crm_labels.sqlite"

_INT_TYPES = {"bigint", "integer", "int", "smallint", "int8", "int4", "int2"}
_FLOAT_TYPES = {"double precision", "real", "float", "float8", "numeric", "decimal"}
_US_PER_DAY = 86_400_000_000
_NO_NEXT = np.iinfo(np.int64).max
_MONTH = re.compile(r"^\d{4}-\d{2}-01$")
# An unencoded "+00:00" arrives as " 00:00" because "+" means space in a query string.
_SPACE_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


class ApiError(Exception):
    """An error answered as JSON: status, machine code, message and what it concerns."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"error": self.code, "detail": self.detail, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _bad_param(name: str, detail: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {detail}", parameter=name)


# --------------------------------------------------------------------------- bank date


class BankClock:
    """The bank date from the state file, re-read only when the file changes."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self._lock = threading.Lock()
        self._signature: tuple[int, ...] | None = None
        self._bank_date: date | None = None

    def bank_date(self) -> date:
        """Current bank date; a half-written file keeps the last good value."""
        try:
            st = self.state_file.stat()
        except FileNotFoundError:
            raise ApiError(
                503, "bank_not_ready", f"no state file {self.state_file}", {"Retry-After": "5"}
            ) from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
        with self._lock:
            if signature != self._signature:
                try:
                    doc = json.loads(self.state_file.read_text(encoding="utf-8"))
                    self._bank_date = date.fromisoformat(doc["bank_date"])
                    self._signature = signature
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    if self._bank_date is None:
                        raise ApiError(
                            503,
                            "bank_not_ready",
                            f"state file {self.state_file} has no valid bank_date: {exc}",
                            {"Retry-After": "5"},
                        ) from None
                    log.warning("state file %s unreadable (%s); keeping", self.state_file, exc)
            assert self._bank_date is not None
            return self._bank_date


def _cutoff_us(bank_date: date) -> int:
    """Visibility bound in UTC microseconds: everything before the day after the bank date."""
    midnight = datetime(bank_date.year, bank_date.month, bank_date.day, tzinfo=UTC)
    return int((midnight + timedelta(days=1)).timestamp()) * 1_000_000


# --------------------------------------------------------------------------- entity data


class DataError(RuntimeError):
    """The world store holds files that do not match the CRM contract."""


_NULL_AS = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "float": pa.float64(),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class ColumnData:
    """One column as plain numpy arrays: no per-row Python objects, cheap to slice a page.

    Text is dictionary-encoded (codes into ``labels``, -1 for null), so a 2-million-row
    column of a few channel names costs 4 bytes a row; timestamps are UTC microseconds and
    dates days since 1970.
    """

    kind: str
    values: np.ndarray
    nulls: np.ndarray | None = None
    labels: np.ndarray | None = None

    @classmethod
    def of(cls, column: pa.ChunkedArray, kind: str, where: str) -> ColumnData:
        """Convert with Arrow casts, accepting any reasonable Parquet type for the kind."""
        source = column.type
        if pa.types.is_null(source):  # an all-null column written without a type
            column = column.cast(_NULL_AS[kind])
        try:
            if kind == "text":
                return cls._text(column.cast(pa.string()))
            if kind == "timestamp":
                if not pa.types.is_timestamp(column.type):
                    raise TypeError
                # Microseconds (what Postgres keeps); naive values are taken as UTC.
                column = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False)
                column = column.cast(pa.int64())
            elif kind == "date":
                if not pa.types.is_date32(column.type):
                    column = column.cast(pa.date32(), safe=False)
                column = column.cast(pa.int32()).cast(pa.int64())
            elif kind == "int":
                column = column.cast(pa.int64())
            elif kind == "bool":
                column = column.cast(pa.bool_())
            else:
                column = column.cast(pa.float64())
        except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(f"{where}: Parquet type {source} does not fit {kind}") from None
        isna = column.is_null().to_numpy(zero_copy_only=False)
        filler = False if kind == "bool" else 0
        values = pc.fill_null(column, filler).to_numpy(zero_copy_only=False)
        return cls(kind, np.ascontiguousarray(values), isna if isna.any() else None)

    @classmethod
    def _text(cls, column: pa.ChunkedArray) -> ColumnData:
        """Dictionary codes ranked by the string, so comparing codes compares the text."""
        encoded = pc.dictionary_encode(column.combine_chunks())
        words = encoded.dictionary
        order = pc.array_sort_indices(words).to_numpy()
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1).astype(np.int32)
        labels = np.asarray(words.take(pa.array(order)).to_pylist(), dtype=object)
        return cls("text", codes, None, labels)

    @classmethod
    def empty(cls, kind: str) -> ColumnData:
        dtype = {"text": np.int32, "float": np.float64, "bool": bool}.get(kind, np.int64)
        labels = np.empty(0, dtype=object) if kind == "text" else None
        return cls(kind, np.empty(0, dtype=dtype), None, labels)

    def reordered(self, order: np.ndarray) -> ColumnData:
        nulls = None if self.nulls is None else self.nulls[order]
        return ColumnData(self.kind, self.values[order], nulls, self.labels)

    def value(self, i: int) -> Any:
        """One cell as a plain Python value (for cursor keys)."""
        if self.labels is not None:
            code = int(self.values[i])
            return None if code < 0 else self.labels[code]
        return self.values[i].item()

    def take(self, rows: np.ndarray) -> list[Any]:
        """JSON-ready cells: ISO dates, +00:00 timestamps, numbers, None for null."""
        values = self.values[rows].tolist()
        if self.labels is not None:
            labels = self.labels
            return [None if c < 0 else labels[c] for c in values]
        if self.kind == "timestamp":
            values = [(_EPOCH + timedelta(microseconds=v)).isoformat() for v in values]
        elif self.kind == "date":
            values = [date.fromordinal(_EPOCH_ORDINAL + v).isoformat() for v in values]
        elif self.kind == "float":
            values = [None if math.isnan(v) else v for v in values]
        if self.nulls is None:
            return values
        nulls = self.nulls[rows].tolist()
        return [None if n else v for v, n in zip(values, nulls, strict=True)]


@dataclass(frozen=True)
class Snapshot:
    """All versions of one entity, sorted by (updated_at, key), plus what the cursor needs.

    ``next_us[i]`` is when row ``i``'s key got its next version (or int64 max), so row ``i``
    is the latest visible version exactly when ``ts_us[i] < cutoff <= next_us[i]``: one
    vectorised comparison per bank date, no regrouping per request.
    """

    columns: dict[str, ColumnData]
    key: tuple[str, ...]
    ts_us: np.ndarray
    next_us: np.ndarray

    def key_at(self, i: int) -> tuple[Any, ...]:
        return tuple(self.columns[c].value(i) for c in self.key)

    def rows(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """The records at these positions, as JSON-ready dicts in contract column order."""
        names = list(self.columns)
        cells = [self.columns[c].take(rows) for c in names]
        return [dict(zip(names, rec, strict=True)) for rec in zip(*cells, strict=True)]


class _KeyView:
    """Sequence of key tuples, so ``bisect`` can search a run of equal timestamps."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def __len__(self) -> int:
        return len(self.snapshot.ts_us)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        return self.snapshot.key_at(i)


def _kind(sql_type: str) -> str:
    t = sql_type.lower().split("(")[0].strip()
    if t in _INT_TYPES:
        return "int"
    if t in _FLOAT_TYPES:
        return "float"
    if t in ("timestamptz", "timestamp", "timestamp with time zone"):
        return "timestamp"
    if t == "date":
        return "date"
    if t in ("boolean", "bool"):
        return "bool"
    return "text"


def load_snapshot(contract: EntityContract, files: list[Path]) -> Snapshot:
    """Read, type, de-duplicate and sort one entity's Parquet files, without pandas copies."""
    names = contract.column_names
    kinds = {c.name: _kind(c.type) for c in contract.columns}
    key = tuple(contract.primary_key)
    tables = []
    for path in files:
        missing = [c for c in names if c not in pq.read_schema(path).names]
        if missing:
            raise DataError(f"{path}: missing columns {missing} of the CRM contract")
        tables.append(pq.read_table(path, columns=names))
    table = pa.concat_tables(tables, promote_options="permissive") if tables else None
    del tables
    if table is None or table.num_rows == 0:
        columns = {c: ColumnData.empty(kinds[c]) for c in names}
        return Snapshot(columns, key, columns["updated_at"].values, np.empty(0, np.int64))
    where = f"crm/{contract.name}"
    columns = {c: ColumnData.of(table.column(c), kinds[c], f"{where}.{c}") for c in names}
    del table
    for c in [*key, "updated_at"]:
        if columns[c].nulls is not None:
            raise DataError(f"{where}: null {c} in {len(files)} file(s)")
    ts = columns["updated_at"].values
    keys = [columns[c].values for c in key]  # text keys are codes ranked by the string
    # Group versions by key, oldest first; among equal (key, updated_at) the later file
    # wins. Then note, for each version, when its key's next version came.
    by_key = np.lexsort((np.arange(len(ts)), ts, *reversed(keys)))
    ts1, keys1 = ts[by_key], [k[by_key] for k in keys]
    same_next = np.ones(max(len(ts1) - 1, 0), dtype=bool)
    for k in keys1:
        same_next &= k[1:] == k[:-1]
    keep = np.append(~(same_next & (ts1[1:] == ts1[:-1])), True)
    by_key, ts1, keys1 = by_key[keep], ts1[keep], [k[keep] for k in keys1]
    same_next = np.ones(max(len(ts1) - 1, 0), dtype=bool)
    for k in keys1:
        same_next &= k[1:] == k[:-1]
    next_us = np.where(np.append(same_next, False), np.append(ts1[1:], _NO_NEXT), _NO_NEXT)
    # API order: (updated_at, key).
    by_time = np.lexsort((*reversed(keys1), ts1))
    final = by_key[by_time]
    columns = {c: col.reordered(final) for c, col in columns.items()}
    pa.default_memory_pool().release_unused()  # Arrow's pool keeps freed buffers otherwise
    return Snapshot(columns, key, columns["updated_at"].values, next_us[by_time])


class EntityStore:
    """One entity's snapshot, reloaded when its folder's Parquet files change."""

    def __init__(self, contract: EntityContract, folder: Path) -> None:
        self.contract = contract
        self.folder = folder
        self._lock = threading.Lock()
        self._signature: tuple[Any, ...] | None = None
        self._snapshot: Snapshot | None = None

    def _files(self) -> tuple[list[Path], tuple[Any, ...]]:
        try:
            entries = sorted(
                (e for e in self.folder.iterdir() if e.suffix == ".parquet"),
                key=lambda e: e.name,
            )
        except FileNotFoundError:
            return [], ()
        files, signature = [], []
        for path in entries:
            if path.name.startswith((".", "_")):
                continue  # temporary or metadata files, not data
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            files.append(path)
            signature.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
        return files, tuple(signature)

    def snapshot(self) -> Snapshot:
        """The current data; a file that cannot be read yet keeps the previous snapshot."""
        with self._lock:
            files, signature = self._files()
            if signature != self._signature or self._snapshot is None:
                started = time.monotonic()
                try:
                    snapshot = load_snapshot(self.contract, files)
                except (OSError, pa.ArrowException) as exc:
                    if self._snapshot is None:
                        raise ApiError(
                            503,
                            "data_not_ready",
                            f"crm/{self.contract.name} cannot be read yet: {exc}",
                            {"Retry-After": "2"},
                        ) from None
                    log.warning("crm/%s: reload failed (%s); keeping", self.contract.name, exc)
                    return self._snapshot
                except DataError as exc:
                    raise ApiError(500, "invalid_world_store", str(exc)) from None
                self._snapshot, self._signature = snapshot, signature
                log.info(
                    "crm/%s: %s versions from %d file(s) in %.2f s",
                    self.contract.name,
                    f"{len(snapshot.ts_us):,}",
                    len(files),
                    time.monotonic() - started,
                )
            return self._snapshot


# --------------------------------------------------------------------------- paging


def _encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_param("cursor", "not a cursor returned by this API") from None
    if not isinstance(payload, dict):
        raise _bad_param("cursor", "not a cursor returned by this API")
    return payload


def _cursor_position(snap: Snapshot, entity: str, value: str) -> int:
    """Index of the first row after the cursor's (updated_at, key): binary search only."""
    payload = _decode_cursor(value)
    ts, key = payload.get("t"), payload.get("k")
    if payload.get("e") != entity:
        raise _bad_param("cursor", f"cursor belongs to another entity, not {entity}")
    if not isinstance(ts, int) or not isinstance(key, list) or len(key) != len(snap.key):
        raise _bad_param("cursor", "not a cursor returned by this API")
    for part, name in zip(key, snap.key, strict=True):
        expected = int if snap.columns[name].kind == "int" else str
        if not isinstance(part, expected) or isinstance(part, bool):
            raise _bad_param("cursor", "not a cursor returned by this API")
    lo = int(np.searchsorted(snap.ts_us, ts, side="left"))
    hi = int(np.searchsorted(snap.ts_us, ts, side="right"))
    return bisect.bisect_right(_KeyView(snap), tuple(key), lo, hi)


def _parse_timestamp(name: str, value: str) -> int:
    text = _SPACE_OFFSET.sub(r"+\1", value.strip())
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise _bad_param(name, f"{value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the API speaks UTC
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _bad_param("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return size


def _single_params(request: Request, allowed: set[str]) -> dict[str, str]:
    """Query parameters, refusing unknown or repeated ones so client typos surface."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise _bad_param(name, f"unknown parameter; allowed: {', '.join(sorted(allowed))}")
        if name in params:
            raise _bad_param(name, "given more than once")
        params[name] = value
    return params


def page_of(
    snap: Snapshot,
    entity: str,
    cutoff_us: int,
    page_size: int,
    since_us: int | None = None,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of latest visible versions after ``updated_since`` and the cursor."""
    start = 0
    if since_us is not None:
        start = int(np.searchsorted(snap.ts_us, since_us, side="right"))
    if cursor is not None:
        start = max(start, _cursor_position(snap, entity, cursor))
    end = int(np.searchsorted(snap.ts_us, cutoff_us, side="left"))
    need = page_size + 1  # one more tells whether a next page exists
    found: list[np.ndarray] = []
    count, pos, chunk = 0, start, max(need, 1024)
    while pos < end and count < need:
        stop = min(end, pos + chunk)
        hits = np.flatnonzero(snap.next_us[pos:stop] >= cutoff_us) + pos
        found.append(hits)
        count += len(hits)
        pos, chunk = stop, chunk * 2
    rows = np.concatenate(found)[:need] if found else np.empty(0, dtype=np.int64)
    page = rows[:page_size]
    next_cursor = None
    if len(rows) > page_size:
        last = int(page[-1])
        next_cursor = _encode_cursor(
            {"e": entity, "t": int(snap.ts_us[last]), "k": list(snap.key_at(last))}
        )
    return snap.rows(page), next_cursor


# --------------------------------------------------------------------------- guards


class TokenBucket:
    """Requests per second with bursts, as a bank's API gateway meters a client."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if the request may pass, else seconds until a token is available."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class Guard:
    """Bearer auth, then the rate limit, then injected faults: the order a gateway applies."""

    def __init__(self, token: str, rate: float, burst: int, error_rate: float, seed: int) -> None:
        self.token = token
        self.rate, self.burst = rate, burst
        self.error_rate = error_rate
        self._buckets: dict[str, TokenBucket] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="crm"'},
            )
        with self._lock:
            bucket = self._buckets.setdefault(self.token, TokenBucket(self.rate, self.burst))
        wait = bucket.take()
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"rate limit {self.rate:g}/s (burst {self.burst}) exceeded; retry in {seconds} s",
                {"Retry-After": str(seconds)},
                retry_after=seconds,
            )
        # Drawn before the handler runs, so an injected 500 never follows a stored write:
        # a client retrying a write-back after a 500 cannot double-apply or lose it.
        if self.error_rate > 0:
            with self._lock:
                fail = self._rng.random() < self.error_rate
            if fail:
                raise ApiError(500, "injected_fault", "simulated CRM server error")


# --------------------------------------------------------------------------- labels


class LabelStore:
    """Model labels written back to the CRM, in SQLite so they survive restarts."""

    FIELDS = ("customer_id", "as_of_month", "model_version", "segment", "lifecycle_stage")

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "create table if not exists labels ("
                " customer_id integer not null, as_of_month text not null,"
                " model_version text not null, segment text, lifecycle_stage text,"
                " received_at text not null,"
                " primary key (customer_id, as_of_month, model_version))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def upsert(self, labels: list[dict[str, Any]]) -> None:
        """All or nothing; an existing (customer, month, model version) is replaced."""
        now = datetime.now(UTC).isoformat()
        rows = [(*(label[f] for f in self.FIELDS), now) for label in labels]
        with closing(self._connect()) as conn, conn:
            conn.executemany(
                "insert into labels values (?, ?, ?, ?, ?, ?)"
                " on conflict (customer_id, as_of_month, model_version) do update set"
                " segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,"
                " received_at = excluded.received_at",
                rows,
            )

    def query(
        self,
        filters: dict[str, Any],
        after: tuple[int, str, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        where, args = [], []
        for name, value in filters.items():
            where.append(f"{name} = ?")
            args.append(value)
        if after is not None:
            where.append("(customer_id, as_of_month, model_version) > (?, ?, ?)")
            args.extend(after)
        sql = "select customer_id, as_of_month, model_version, segment, lifecycle_stage,"
        sql += " received_at from labels"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by customer_id, as_of_month, model_version limit ?"
        with closing(self._connect()) as conn:
            cur = conn.execute(sql, [*args, limit])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _label_error(index: int, field: str, detail: str) -> ApiError:
    return ApiError(
        422, "invalid_label", f"labels[{index}].{field}: {detail}", index=index, field=field
    )


def _valid_month(value: Any) -> bool:
    if not isinstance(value, str) or not _MONTH.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def validate_labels(body: Any) -> list[dict[str, Any]]:
    """The posted labels, checked field by field; the error names the index and field."""
    if not isinstance(body, dict) or set(body) != {"labels"}:
        raise ApiError(422, "invalid_body", 'body must be {"labels": [...]}', field="labels")
    labels = body["labels"]
    if not isinstance(labels, list):
        raise ApiError(422, "invalid_body", "labels must be a list", field="labels")
    if len(labels) > MAX_LABELS_PER_POST:
        raise ApiError(
            422,
            "too_many_labels",
            f"at most {MAX_LABELS_PER_POST} labels per request; send batches",
            field="labels",
        )
    clean = []
    for i, label in enumerate(labels):
        if not isinstance(label, dict):
            raise _label_error(i, "*", "must be an object")
        unknown = sorted(set(label) - set(LabelStore.FIELDS))
        if unknown:
            raise _label_error(i, unknown[0], "unknown field")
        cid = label.get("customer_id")
        if not isinstance(cid, int) or isinstance(cid, bool) or not 0 <= cid < 2**63:
            raise _label_error(i, "customer_id", "must be a non-negative integer")
        if not _valid_month(label.get("as_of_month")):
            raise _label_error(i, "as_of_month", "must be a month start, YYYY-MM-01")
        version = label.get("model_version")
        if not isinstance(version, str) or not version.strip() or len(version) > 200:
            raise _label_error(i, "model_version", "must be a non-empty string")
        for field in ("segment", "lifecycle_stage"):
            value = label.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                raise _label_error(i, field, "must be a string or null")
        clean.append({f: label.get(f) for f in LabelStore.FIELDS})
    return clean


# --------------------------------------------------------------------------- the app


def create_app(
    world_dir: Path,
    state_file: Path,
    token: str,
    rate_per_second: float = 50,
    burst: int = 100,
    error_rate: float = 0.0,
    seed: int = 0,
    labels_path: Path | None = None,
) -> FastAPI:
    """The CRM API over ``world_dir/crm``; labels go to ``crm_labels.sqlite`` by the state."""
    if not token:
        raise ValueError("the CRM API needs a non-empty bearer token")
    if rate_per_second <= 0 or burst < 1:
        raise ValueError("rate_per_second must be > 0 and burst >= 1")
    if not 0 <= error_rate <= 1:
        raise ValueError("error_rate must be between 0 and 1")
    world_dir, state_file = Path(world_dir), Path(state_file)
    if not (world_dir / "crm").is_dir():
        log.warning("no %s yet: every entity is empty until the generator writes it", world_dir)
    contracts = load_contract("crm")
    stores = {
        str(c.options.get("endpoint", name)): EntityStore(c, world_dir / "crm" / name)
        for name, c in contracts.items()
    }
    clock = BankClock(state_file)
    labels = LabelStore(labels_path or state_file.parent / LABELS_FILE)
    guard = Guard(token, rate_per_second, burst, error_rate, seed)

    app = FastAPI(title="Demo bank CRM", version="1")

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return ApiError(exc.status_code, code, str(exc.detail), dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("CRM API request failed")
        return ApiError(500, "internal_error", f"{type(exc).__name__}: {exc}").response()

    @app.get(f"{API_PREFIX}/health")
    def health() -> JSONResponse:
        try:
            bank_date = clock.bank_date()
        except ApiError as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
        return JSONResponse({"status": "ok", "bank_date": bank_date.isoformat()})

    @app.post(f"{API_PREFIX}/labels", dependencies=[Depends(guard)])
    async def post_labels(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "body is not JSON", field="body") from None
        clean = validate_labels(body)
        await run_in_threadpool(labels.upsert, clean)
        return JSONResponse({"accepted": len(clean)})

    @app.get(f"{API_PREFIX}/labels", dependencies=[Depends(guard)])
    def get_labels(request: Request) -> JSONResponse:
        params = _single_params(
            request, {"customer_id", "as_of_month", "model_version", "page_size", "cursor"}
        )
        filters: dict[str, Any] = {}
        if "customer_id" in params:
            try:
                filters["customer_id"] = int(params["customer_id"])
            except ValueError:
                raise _bad_param("customer_id", "must be an integer") from None
        if "as_of_month" in params:
            if not _valid_month(params["as_of_month"]):
                raise _bad_param("as_of_month", "must be a month start, YYYY-MM-01")
            filters["as_of_month"] = params["as_of_month"]
        if "model_version" in params:
            filters["model_version"] = params["model_version"]
        page_size = _parse_page_size(params.get("page_size"))
        after = None
        if "cursor" in params:
            payload = _decode_cursor(params["cursor"])
            after = payload.get("l")
            if payload.get("e") != "labels" or not (
                isinstance(after, list)
                and len(after) == 3
                and isinstance(after[0], int)
                and all(isinstance(v, str) for v in after[1:])
            ):
                raise _bad_param("cursor", "not a labels cursor returned by this API")
            after = tuple(after)
        rows = labels.query(filters, after, page_size + 1)
        next_cursor = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            key = [last["customer_id"], last["as_of_month"], last["model_version"]]
            next_cursor = _encode_cursor({"e": "labels", "l": key})
        return JSONResponse(
            {"data": rows, "next_cursor": next_cursor, "bank_date": clock.bank_date().isoformat()}
        )

    @app.get(API_PREFIX + "/{entity}", dependencies=[Depends(guard)])
    def get_entity(entity: str, request: Request) -> JSONResponse:
        store = stores.get(entity)
        if store is None:
            raise ApiError(
                404,
                "unknown_entity",
                f"no entity {entity!r}; known: {', '.join(sorted(stores))}",
                parameter="entity",
            )
        params = _single_params(request, {"updated_since", "page_size", "cursor"})
        page_size = _parse_page_size(params.get("page_size"))
        since = params.get("updated_since")
        since_us = _parse_timestamp("updated_since", since) if since is not None else None
        bank_date = clock.bank_date()
        data, next_cursor = page_of(
            store.snapshot(),
            entity,
            _cutoff_us(bank_date),
            page_size,
            since_us,
            params.get("cursor"),
        )
        return JSONResponse(
            {"data": data, "next_cursor": next_cursor, "bank_date": bank_date.isoformat()}
        )

    return app


# --------------------------------------------------------------------------- running it


def check_loopback(host: str) -> None:
    """The demo CRM holds personal data and a static token: never expose it off the host."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"refusing to serve the demo CRM on {host!r}: bind to a loopback address "
            "(127.0.0.1, ::1 or localhost) only"
        )


def serve(
    world_dir: Path,
    state_file: Path,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow_non_loopback: bool = False,
    **kwargs: Any,
) -> None:
    """Run the CRM API in the foreground (``crm demo-bank serve-crm``) until interrupted.

    ``allow_non_loopback`` is for a private network only (the compose file's crm-api
    service, reachable by the Airflow workers and published nowhere).
    """
    if not allow_non_loopback:
        check_loopback(host)
    app = create_app(Path(world_dir), Path(state_file), token, **kwargs)
    log.info("demo CRM on http://%s:%d%s (world %s)", host, port, API_PREFIX, world_dir)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` on a background thread for tests; yields the base URL, stops on exit."""
    import socket

    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="crm-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the CRM API server did not start")
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{bound}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def answering(base_url: str, timeout: float = 2.0) -> bool:
    """Whether something already serves the CRM API's health endpoint at ``base_url``."""
    import httpx

    try:
        response = httpx.get(f"{base_url}{API_PREFIX}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code in (200, 503)


@contextmanager
def demo_crm_running(layout_root: Path, token: str, port: int) -> Iterator[str]:
    """The demo CRM on 127.0.0.1:``port`` for the duration of a run, unless one is up already.

    A pipeline run pulls the CRM over HTTP like any bank's; when nobody serves the demo
    CRM yet, the process starting the run serves it on a thread until the run ends.
    """
    base_url = f"http://127.0.0.1:{port}"
    if answering(base_url):
        yield base_url
        return
    layout_root.mkdir(parents=True, exist_ok=True)
    app = create_app(layout_root / "world", layout_root / "state.json", token)
    with serve_in_thread(app, port=port) as url:
        log.info("serving the demo CRM on %s%s for this run", url, API_PREFIX)
        yield url
