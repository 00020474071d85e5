"""One vendor's delivery settings: endpoint, concurrency, in-flight limits, rate limit, batches,
retries and circuit.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from bridge.config.strict import StrictModel

FIXED_CONCURRENCY = 16
"""``concurrency: auto`` for a vendor that batches, or shares its process."""


class BatchSettings(StrictModel):
    max_events: int = Field(default=100, ge=1)
    max_bytes: int = Field(default=1_000_000, ge=1_000)
    linger_ms: float = Field(default=20, ge=0)
    """How long the oldest ready record may wait for a fuller batch; a full batch goes at once.
    It saves requests while records come slower than a batch per linger: at 1,000 records/s,
    20 ms sent about 30 requests a second where 0 sent 80 to 160 (issue 16's latency bench);
    50 ms halves that again for up to 30 ms more on every record. Faster streams fill their
    batches before it ends."""


class RetrySettings(StrictModel):
    initial_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=60, gt=0)
    max_attempts: int | None = Field(default=None, ge=1)
    """None: retry transient failures until they succeed (Kafka is the buffer)."""
    max_elapsed_s: float | None = Field(default=None, gt=0)
    credentials_probe_s: float = Field(default=30, gt=0)
    """How often a pipeline whose credentials were refused tries again."""


class CircuitSettings(StrictModel):
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive transient failures that open the circuit."""
    open_s: float = Field(default=10, gt=0)
    """How long the circuit stays open before one probe request is let through."""


class VendorConfig(StrictModel):
    enabled: bool = True
    base_url: str | None = None
    """None: the vendor's production endpoint. Must be https, but on loopback."""
    allow_insecure_http: bool = False
    """Allow an http:// base_url off loopback (a sandbox in a compose network): keys would
    travel in clear text."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """The vendor's own block (credentials, options), validated by its module."""
    concurrency: Annotated[int, Field(ge=1, le=1024)] | Literal["adaptive", "auto"] = "auto"
    """Requests in flight at once, or ``adaptive``: found and followed at run time
    (`bridge.delivery.adaptive`), from 1 up to `max_concurrency`. ``auto``: see `resolved`."""
    max_concurrency: int = Field(default=64, ge=1, le=1024)
    """The most requests in flight ``concurrency: adaptive`` may reach."""
    max_in_flight_records: int = Field(default=5_000, ge=1)
    max_in_flight_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    resume_ratio: float = Field(default=0.5, gt=0, lt=1)
    """Paused partitions resume when in-flight work falls below this share of the limits."""
    rate_limit_rps: float | None = Field(default=None, gt=0)
    rate_limit_burst: int | None = Field(default=None, ge=1)
    request_timeout_s: float = Field(default=10, gt=0)
    ordering: Literal["key", "none"] = "key"
    on_unmappable: Literal["skip", "dead-letter"] = "skip"
    require_consent: bool = False
    batch: BatchSettings = BatchSettings()
    retry: RetrySettings = RetrySettings()
    circuit: CircuitSettings = CircuitSettings()

    def resolved(self, batches: bool, pipelines: int) -> VendorConfig:
        """This block with ``concurrency: auto`` made ``adaptive`` for a vendor that takes one
        event per request and has its process to itself (the chart's default layout), else
        `FIXED_CONCURRENCY`. Measured (docs/performance.md, "Adaptive concurrency"): there,
        adaptive found about twice the rate of a fixed 16, for less CPU per event; for a
        batching vendor, or beside other pipelines on one event loop, it read the loop's own
        delay as the vendor's and delivered less."""
        if self.concurrency != "auto":
            return self
        adaptive = not batches and pipelines == 1
        return self.model_copy(
            update={"concurrency": "adaptive" if adaptive else FIXED_CONCURRENCY}
        )

    @model_validator(mode="after")
    def _https_off_loopback(self) -> VendorConfig:
        url = urlsplit(self.base_url or "https://default")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, not {self.base_url!r}")
        if url.scheme == "http" and not self.allow_insecure_http and not _loopback(url.hostname):
            raise ValueError(
                "base_url must use https (vendor keys would travel in clear text); "
                "http is allowed on loopback, or with allow_insecure_http: true"
            )
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
