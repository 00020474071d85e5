"""One aiohttp session per vendor; `classify()` turns replies and exceptions into errors.

This is the one boundary where HTTP statuses and client exceptions become the bridge's error
types (see `bridge.errors`); everything past it reads `DeliveryError.retriable`:

- 2xx: the vendor's `read_reply` gives one result per item (or refuses the whole request);
- 408, 425, 429, 5xx, timeouts, connection errors: `TransientDeliveryError`;
- 401, 403, 404/405 (the endpoint itself is wrong) and every 3xx: `CredentialsError`;
- any other 4xx: `RejectedDeliveryError`.

Redirects are never followed: a 301/302/303 would turn the POST into a GET to a landing page
whose 200 looks like acceptance, and a 307/308 would post our key to another host. A moved
endpoint is a configuration problem: the pipeline pauses and reports it, like a 404.
A reply body is read up to `MAX_REPLY_BYTES`; a longer one is a refusal, never held whole.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bridge.errors import (
    TRANSIENT_STATUSES,
    CredentialsError,
    DeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bridge.metrics import Metrics
from bridge.vendors.base import HttpRequest, Item, ItemResult, Vendor

CREDENTIALS_STATUSES = frozenset({401, 403, 404, 405})
MAX_REPLY_BYTES = 1024 * 1024
_REASON_CHARS = 300


def classify(status: int, retry_after: str | None, body: bytes) -> DeliveryError | None:
    """The error a non-2xx reply stands for; None for 2xx."""
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status}: {body[:_REASON_CHARS].decode('utf-8', 'replace')}"
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientDeliveryError(
            detail, status=status, retry_after=parse_retry_after(retry_after)
        )
    if 300 <= status < 400:
        # Where it points is left out too: it is another host's URL, not ours to log.
        return CredentialsError(
            f"HTTP {status}: the endpoint moved (redirects are not followed)", status=status
        )
    if status in CREDENTIALS_STATUSES:
        # The body is left out: some APIs echo the credentials they refused.
        return CredentialsError(f"HTTP {status}: credentials or endpoint refused", status=status)
    return RejectedDeliveryError(detail, status=status)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def proxy_for(url: str) -> str | None:
    """The proxy for `url` from HTTPS_PROXY / HTTP_PROXY and NO_PROXY, as corporate networks set.

    Looked up once per vendor (one host) with the standard library's own reading of those
    variables, rather than by aiohttp's ``trust_env`` on every request, which rescans the
    environment each time (a third of a core at 1,000 requests/s). A private CA bundle
    (SSL_CERT_FILE) needs nothing here: OpenSSL reads it.
    """
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, or its first MAX_REPLY_BYTES + 1 bytes when it is longer."""
    length = response.content_length
    if length is not None and length <= MAX_REPLY_BYTES:
        return await response.read()  # the common case: one read of a known, small body
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            break
    return b"".join(chunks)[: MAX_REPLY_BYTES + 1]


class VendorClient:
    """Sends `HttpRequest`s for one vendor; an async context manager owning its session."""

    def __init__(self, vendor: Vendor[Any], timeout_s: float, metrics: Metrics) -> None:
        self._vendor = vendor
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None
        name = vendor.name
        self._requests_by_class = {
            cls: metrics.http_requests.labels(name, cls) for cls in ("2xx", "4xx", "5xx", "error")
        }
        self._duration = metrics.http_duration.labels(name)
        self._in_flight = metrics.in_flight_requests.labels(name)

    async def __aenter__(self) -> VendorClient:
        # No connection limit of aiohttp's own: the pipeline bounds concurrency, and a second
        # limit would queue requests where nothing measures them.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
        )
        self._proxy = proxy_for(self._vendor.base_url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, request: HttpRequest, items: Sequence[Item]
    ) -> tuple[int, list[ItemResult]]:
        """The status and one result per item, or a DeliveryError for the whole request."""
        assert self._session is not None, "use VendorClient as an async context manager"
        started = time.perf_counter()
        self._in_flight.inc()
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                proxy=self._proxy,
            ) as response:
                body = await _read_capped(response)
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._requests_by_class["error"].inc()
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]) from None
        finally:
            self._in_flight.dec()
            self._duration.observe(time.perf_counter() - started)
        self._requests_by_class.get(f"{status // 100}xx", self._requests_by_class["error"]).inc()
        error = classify(status, retry_after, body)
        if error is not None:
            raise error
        if status not in self._vendor.accepted_statuses:
            # A 2xx the vendor's document does not call success (VTmarketing: 200 only). It may
            # have stored the event, so it is never sent again: a refusal, then a dead letter.
            raise RejectedDeliveryError(
                f"HTTP {status}: not a success status for this vendor", status=status
            )
        if len(body) > MAX_REPLY_BYTES:
            raise RejectedDeliveryError(
                f"{status} reply longer than {MAX_REPLY_BYTES} bytes", status=status
            )
        try:
            return status, self._vendor.read_reply(body, items)
        except DeliveryError as exc:
            if exc.status is None:  # a status the vendor reported in its body (Qubit) wins
                exc.status = status
            raise
        except Exception as exc:
            # A reply the vendor module cannot read is a refusal of the request as far as we
            # can tell: the batch is split and the records that stay unreadable dead-lettered.
            raise RejectedDeliveryError(
                f"unreadable {status} reply: {type(exc).__name__}", status=status
            ) from None
