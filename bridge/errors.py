"""The whole error tree of the bridge, in one place.

```
BridgeError
├─ ConfigError                 the configuration is invalid: fail at start, naming the field
├─ DecodeError                 the record cannot be decoded: dead letter, then done
├─ MappingError                the vendor cannot take this record: skip by reason
│                              (or dead letter, by the vendor's policy)
└─ DeliveryError               carries status, retry_after, retriable and pauses
   ├─ TransientDeliveryError   timeouts, resets, 408/425/429/5xx: retry with backoff
   ├─ RejectedDeliveryError    other 4xx, a 2xx whose body refuses the request: split the
   │                           batch, then dead letter the single record that is refused
   └─ CredentialsError         401/403, 404/405 on the endpoint, any 3xx (a moved endpoint is
                               never followed): pause the pipeline, commit nothing new,
                               report not ready, probe until it works
```

The retry decision (`bridge.delivery.sender`) reads only `retriable` and `pauses`; nothing past
`bridge.delivery.client.classify` inspects status codes.
Messages never carry secrets or personal data: they are logged and written to headers.
"""

from __future__ import annotations

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Statuses below 500 that mean "later", wherever a vendor reports them (reply or body)."""


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration is invalid; the message names every offending field."""


class DecodeError(BridgeError):
    """A record's bytes cannot be turned into an event.

    `reason` is a short, bounded code (a metric label); the message has the detail.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class MappingError(BridgeError):
    """The vendor cannot take this event (a required field is missing).

    `reason` is a short, bounded code such as ``missing_email``: it becomes a metric label.
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason


class DeliveryError(BridgeError):
    """A vendor did not acknowledge a request."""

    retriable = False
    """The same request may succeed later: send it again, never dead-letter it for this."""
    pauses = False
    """The vendor refuses our access, not this request: pause the whole pipeline and probe
    on a timer instead of counting the failure against the request's retry limits."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """The vendor may take the same request later."""

    retriable = True


class RejectedDeliveryError(DeliveryError):
    """The vendor refused the request for its content; sending it again will not help."""


class CredentialsError(DeliveryError):
    """The vendor refused our credentials, or the endpoint is wrong (missing or moved).

    Retriable and pausing: a rotated key or a fixed URL makes the same request succeed, and
    dead-lettering every record while a key is expired would flood the dead-letter topic.
    """

    retriable = True
    pauses = True
