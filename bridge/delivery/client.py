"""One aiohttp session per vendor; `classify()` turns replies and exceptions into errors.

This is the one boundary where HTTP statuses and client exceptions become the bridge's error
types (see `bridge.errors`); everything past it reads `DeliveryError.retriable`:

- 2xx: the vendor's `read_reply` gives one result per item (or refuses the whole request);
- 408, 425, 429, 5xx, timeouts, connection errors: `TransientDeliveryError`;
- 401, 403, and 404/405 (the endpoint itself is wrong): `CredentialsError`;
- any other 4xx: `RejectedDeliveryError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp

from bridge.errors import (
    CredentialsError,
    DeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bridge.metrics import Metrics
from bridge.vendors.base import HttpRequest, Item, ItemResult, Vendor

TRANSIENT_STATUSES = frozenset({408, 425, 429})
CREDENTIALS_STATUSES = frozenset({401, 403, 404, 405})
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


class VendorClient:
    """Sends `HttpRequest`s for one vendor; an async context manager owning its session."""

    def __init__(self, vendor: Vendor[Any], timeout_s: float, metrics: Metrics) -> None:
        self._vendor = vendor
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
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
                request.method, request.url, headers=request.headers, data=request.body
            ) as response:
                body = await response.read()
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
        try:
            return status, self._vendor.read_reply(body, items)
        except DeliveryError as exc:
            exc.status = status
            raise
        except Exception as exc:
            # A reply the vendor module cannot read is a refusal of the request as far as we
            # can tell: the batch is split and the records that stay unreadable dead-lettered.
            raise RejectedDeliveryError(
                f"unreadable {status} reply: {type(exc).__name__}", status=status
            ) from None
