"""Client for paginated JSON REST APIs (the bank's CRM), used by the HTTP extractor.

A bank's CRM is pulled over REST: a bearer token, cursor pagination, a gateway that
answers 429 with ``Retry-After`` when a client goes too fast, and the odd 5xx or dropped
connection. The extractor must get every row exactly once despite all of that and must
fail loudly, with the endpoint and the server's own words, when retrying cannot help.

Retry policy (per request, so one bad page never eats the budget of the next):

* retried: HTTP 429, 500, 502, 503 and 504, and connection errors or timeouts;
* each wait is "full jitter" exponential backoff, ``uniform(0, min(backoff_max,
  backoff_base * 2 ** (attempt - 1)))``, so parallel extractors do not retry in step;
* when the server sends ``Retry-After`` (delta-seconds or an HTTP-date) the wait is the
  longer of that and the backoff: never earlier than the server asked, since an early
  retry is refused again and only burns an attempt;
* a ``Retry-After`` longer than ``max_retry_after`` (default ``10 * backoff_max``, 300 s)
  is not waited for: the call fails at once, naming the requested wait, rather than
  holding an Airflow worker slot for an unbounded time;
* every attempt counts, 429s included, and after ``max_attempts`` the call fails;
* any other status (401, 403, 404, 400, redirects ...) fails at once: retrying a refused
  token or a wrong path only hides the mistake.

Cursors are opaque: the client sends back exactly what the server returned, and each
``Page`` carries the cursor it was fetched with, so a crashed extraction resumes from the
last page it committed with ``pages(..., start_cursor=...)``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from warehouse.log import Progress, get_logger

log = get_logger("ingest.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Transport failures worth another try; others (bad URL, unsupported scheme) are not.
_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SNIPPET = 200  # characters of an unexpected body quoted in an error
USER_AGENT = "crm-warehouse-ingest/1"


@dataclass(frozen=True, repr=False)
class ApiConnection:
    """Where the API is and the bearer token for it; the token never appears in a repr."""

    base_url: str  # scheme://host:port[/prefix], no trailing slash
    token: str

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if not self.token:
            raise ValueError("the API connection needs a non-empty bearer token")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_uri(cls, uri: str) -> ApiConnection:
        """Parse an Airflow connection URI, e.g. ``http://:TOKEN@127.0.0.1:8765``.

        The password is the bearer token (URL-quoted in the URI), the login is ignored, a
        path is kept as a prefix of every request and a query (Airflow extras) is ignored.
        Error messages describe the URI's shape, never the URI itself: it holds the token.
        """
        parts = urlsplit(uri.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(
                f"API connection URI must use http:// or https://, not {scheme or 'no'} scheme"
            )
        host = parts.hostname
        if not host:
            raise ValueError(
                "API connection URI has no host; expected http://:TOKEN@HOST:PORT "
                "(a '/', '@', '?' or '#' in the token must be URL-quoted)"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("API connection URI has an invalid port") from None
        token = unquote(parts.password or "")
        if not token:
            raise ValueError(
                "API connection URI has no token; put the URL-quoted bearer token in the "
                "password place: http://:TOKEN@HOST:PORT"
            )
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        return cls(f"{scheme}://{netloc}{parts.path.rstrip('/')}", token)

    def to_uri(self) -> str:
        """The Airflow connection URI for this connection (token URL-quoted)."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://:{quote(self.token, safe='')}@{rest}"

    def __repr__(self) -> str:
        return f"ApiConnection(base_url={self.base_url!r}, token='***')"


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursors around it (``cursor`` is what fetched it)."""

    rows: list[dict[str, Any]]
    cursor: str | None
    next_cursor: str | None
    number: int  # 1-based within one pages() call


class HttpSourceError(RuntimeError):
    """The API could not be read: names the endpoint, status, attempts and server's words."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        status: int | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.status = status
        self.attempts = attempts


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _server_message(response: httpx.Response) -> str:
    """The server's error code and detail from a JSON error body, else the start of it."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # {"error": {"code": ..., "message": ...}}
            parts += [str(error[k]) for k in ("code", "message", "detail") if error.get(k)]
        elif error:
            parts.append(str(error))
        for key in ("detail", "message"):
            value = body.get(key)
            if value:
                parts.append(value if isinstance(value, str) else json.dumps(value)[:_SNIPPET])
    if parts:
        return ": ".join(parts)
    text = _snippet(response.text) if response.content else ""
    return text or response.reason_phrase or "no body"


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            log.debug("ignoring unparseable Retry-After %r", value)
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait


class PagedApiClient:
    """Walks cursor-paginated endpoints over one keep-alive connection, retrying safely."""

    def __init__(
        self,
        connection: ApiConnection,
        *,
        timeout: float = 30.0,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff_base < 0 or backoff_max < 0 or timeout <= 0:
            raise ValueError("timeout must be > 0 and backoff times >= 0")
        self.connection = connection
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = 10 * backoff_max if max_retry_after is None else max_retry_after
        self._sleep = sleep
        self._rng = random.Random()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # never carry the bearer token to another location
            headers={
                "Authorization": f"Bearer {connection.token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )

    def __repr__(self) -> str:
        return f"PagedApiClient({self.connection!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> PagedApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def pages(
        self,
        path: str,
        params: dict[str, str] | None = None,
        start_cursor: str | None = None,
    ) -> Iterator[Page]:
        """Every page of ``GET base_url + path``, following ``next_cursor`` until null.

        ``params`` (e.g. ``updated_since``, ``page_size``) go with every request;
        ``start_cursor`` resumes a walk from a cursor an earlier call yielded. Arguments
        are checked now; requests start when the iteration does.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        query = dict(params or {})
        if "cursor" in query:
            raise ValueError("pass the cursor as start_cursor, not in params")
        return self._walk(path, query, start_cursor)

    def _walk(self, path: str, query: dict[str, str], cursor: str | None) -> Iterator[Page]:
        progress = Progress(log, f"GET {path}")
        number = 0
        while True:
            number += 1
            request = query if cursor is None else {**query, "cursor": cursor}
            body = self._get_json(path, request, number)
            rows, next_cursor = self._parse_page(path, body, number)
            progress.add(len(rows))
            yield Page(rows, cursor, next_cursor, number)
            if next_cursor is None:
                break
            if next_cursor == cursor:
                raise HttpSourceError(
                    f"GET {path}: page {number} returned its own cursor as next_cursor; "
                    "stopping instead of looping forever",
                    path=path,
                    status=200,
                )
            cursor = next_cursor
        elapsed = progress.elapsed
        log.info(
            "GET %s: %s rows in %s in %.2f s (%s rows/s, %.1f pages/s)",
            path,
            f"{progress.count:,}",
            _plural(number, "page"),
            elapsed,
            f"{progress.rate:,.0f}",
            number / elapsed if elapsed > 0 else 0.0,
        )

    def _get_json(self, path: str, params: dict[str, str], number: int) -> Any:
        """One page's decoded body, retrying what can succeed on a later try."""
        return self._send("GET", path, f"page {number}", params=params)

    def post_json(self, path: str, body: Any, what: str = "request") -> Any:
        """``POST base_url + path`` with a JSON body; the decoded reply. Retried like a
        page: only for endpoints where sending the same body twice does no harm."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return self._send("POST", path, what, body=body)

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        url = self.connection.base_url + path
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            retry_after: float | None = None
            try:
                if method == "GET":
                    response = self._client.get(url, params=params)
                else:
                    response = self._client.request(method, url, params=params, json=body)
            except _RETRY_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except httpx.HTTPError as exc:
                raise self._error(
                    path, None, attempt, f"{type(exc).__name__}: {exc}", method=method
                ) from exc
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._decode(path, response, what, attempt, method)
                reason = _server_message(response)
                if status not in RETRY_STATUSES:
                    if status == 401:
                        reason = f"the bearer token was refused ({reason})"
                    elif 300 <= status < 400:
                        location = response.headers.get("Location", "?")
                        reason = f"unexpected redirect to {location} (not followed)"
                    raise self._error(path, status, attempt, reason, method=method)
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt >= self.max_attempts:
                raise self._error(path, status, attempt, reason, gave_up=True, method=method)
            if retry_after is not None and retry_after > self.max_retry_after:
                raise self._error(
                    path,
                    status,
                    attempt,
                    f"{reason}; server asked to retry after {retry_after:.0f} s, more than "
                    f"the {self.max_retry_after:.0f} s this client waits",
                    method=method,
                )
            cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
            delay = self._rng.uniform(0, cap)
            if retry_after is not None:
                delay = max(delay, retry_after)
            answer = f"HTTP {status}" if status is not None else "no response"
            log.warning(
                "%s",
                self._redact(
                    f"{method} {path} {what}: {answer} ({reason}), attempt {attempt} of "
                    f"{self.max_attempts}; retrying in {delay:.2f} s"
                ),
            )
            self._sleep(delay)

    def _decode(
        self, path: str, response: httpx.Response, what: str, attempt: int, method: str = "GET"
    ) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            content_type = response.headers.get("Content-Type", "no content type")
            text = _snippet(response.text) if response.content else "(empty)"
            raise self._error(
                path,
                response.status_code,
                attempt,
                f"{what}: response body is not JSON ({content_type}): {text}",
                method=method,
            ) from None

    def _parse_page(
        self, path: str, body: Any, number: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Rows and next cursor, or an error saying what the body lacks."""

        def bad(detail: str) -> HttpSourceError:
            return HttpSourceError(
                self._redact(f"GET {path}: HTTP 200 but page {number} {detail}"),
                path=path,
                status=200,
            )

        if not isinstance(body, dict):
            raise bad(f"is a JSON {type(body).__name__}, not an object with 'data'")
        if "data" not in body:
            raise bad(f"has no 'data' field (fields: {', '.join(sorted(body)) or 'none'})")
        rows = body["data"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise bad("has a 'data' field that is not a list of objects")
        next_cursor = body.get("next_cursor")
        if next_cursor == "":
            next_cursor = None  # some APIs end with an empty string instead of null
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise bad(f"has a next_cursor that is not a string: {next_cursor!r}")
        return rows, next_cursor

    def _error(
        self,
        path: str,
        status: int | None,
        attempts: int,
        reason: str,
        gave_up: bool = False,
        method: str = "GET",
    ) -> HttpSourceError:
        what = f"HTTP {status}" if status is not None else "no response"
        tries = _plural(attempts, "attempt")
        if gave_up:
            message = f"{method} {path}: gave up after {tries}; last: {what}: {reason}"
        else:
            message = f"{method} {path}: {what} after {tries}: {reason}"
        return HttpSourceError(self._redact(message), path=path, status=status, attempts=attempts)

    def _redact(self, text: str) -> str:
        """Belt and braces: nothing this client says may carry the token."""
        token = self.connection.token
        if len(token) < 4:  # too short to find without mangling the message
            return text
        text = text.replace(token, "***")
        quoted = quote(token, safe="")
        return text.replace(quoted, "***") if quoted != token else text
