from __future__ import annotations

import pytest

from bridge.delivery.client import classify, parse_retry_after, proxy_for
from bridge.errors import CredentialsError, RejectedDeliveryError, TransientDeliveryError


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    error = classify(status, None, b"")
    assert isinstance(error, TransientDeliveryError)
    assert error.retriable


@pytest.mark.parametrize("status", [401, 403, 404, 405])
def test_credentials_or_endpoint_statuses_do_not_echo_the_body(status: int) -> None:
    error = classify(status, None, b'{"key": "sk_live_123"}')
    assert isinstance(error, CredentialsError)
    assert error.retriable
    assert "sk_live_123" not in str(error)


@pytest.mark.parametrize("status", [400, 409, 413, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    error = classify(status, None, b"bad field")
    assert isinstance(error, RejectedDeliveryError)
    assert not error.retriable
    assert "bad field" in str(error)


def test_2xx_is_no_error() -> None:
    assert classify(204, None, b"") is None


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("soon") is None
    assert classify(429, "3", b"").retry_after == 3.0  # type: ignore[union-attr]


def test_the_vendor_proxy_comes_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com,.svc")
    assert proxy_for("https://api.vendor.example/events") == "http://proxy.corp:3128"
    assert proxy_for("https://internal.example.com/x") is None
    assert proxy_for("https://sandbox.default.svc/x") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_for("https://api.vendor.example/events") is None
