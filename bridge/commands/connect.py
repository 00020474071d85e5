"""`bridge check-config --connect`: can this configuration work from here, before go-live?

Each check prints ``ok`` or the reason, and the command fails when any check does:
- the schema files load (and parse as Avro);
- the broker answers with the configured security (TLS, SASL);
- every topic the enabled vendors read exists, and the dead-letter (and outcome) topics;
- each vendor's consumer group can be described (the ACLs allow it);
- the schema registry answers, when one is configured;
- each vendor's base URL resolves and completes a TLS handshake (an http URL: a TCP connect).

Read-only: nothing is produced, no group is joined, no topic is created (metadata is asked for
all topics, which never auto-creates one).
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from bridge.config import Config, TopicSettings
from bridge.events import EventType
from bridge.kafka.formats import decoder_for
from bridge.vendors import vendor_classes

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}" + (
            f" ({self.detail})" if self.detail else ""
        )


def schema_checks(config: Config) -> list[Check]:
    """Each source topic's schemas load and parse, as the pipelines will load them (no
    network: a Confluent topic's writer schemas come from the registry at run time)."""
    checks = []
    for kind, source in _sources(config):
        name = f"schema {kind.value} ({source.name})"
        try:
            decoder_for(source, config.schemas_dir)
        except OSError as exc:
            where = exc.filename or config.schemas_dir
            checks.append(Check(name, False, f"{where}: {exc.strerror}"))
        except Exception as exc:  # orjson and fastavro report bad files with many types
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"[:200]))
        else:
            checks.append(Check(name, True, str(config.schemas_dir)))
    return checks


def connect_checks(config: Config, timeout_s: float = TIMEOUT_S) -> list[Check]:
    checks = schema_checks(config)
    checks += kafka_checks(config, timeout_s)
    if config.kafka.schema_registry_url:
        checks.append(registry_check(config, timeout_s))
    for name in config.enabled_vendors():
        url = config.vendors[name].base_url or vendor_classes()[name].default_base_url
        checks.append(vendor_check(name, url, timeout_s))
    return checks


def run_checks(config: Config, connect: bool, out: TextIO) -> bool:
    """Print every check; True when all passed."""
    checks = connect_checks(config) if connect else schema_checks(config)
    for check in checks:
        out.write(check.line() + "\n")
    failed = [check.name for check in checks if not check.ok]
    out.write(f"# {len(checks) - len(failed)} of {len(checks)} checks ok")
    out.write(f"; failed: {', '.join(failed)}\n" if failed else "\n")
    return not failed


# -- Kafka --------------------------------------------------------------------------------------


def kafka_checks(config: Config, timeout_s: float) -> list[Check]:
    errors: list[str] = []

    def on_error(error: KafkaError) -> None:
        errors.append(error.str())

    properties: dict[str, Any] = {
        **config.kafka.client_properties(),
        "error_cb": on_error,
        "log_level": 0,
    }
    admin = AdminClient(properties)
    broker = f"broker {config.kafka.bootstrap_servers} ({config.kafka.security_protocol})"
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        why = errors[-1] if errors else _kafka_reason(exc)
        return [Check(broker, False, why)]
    checks = [Check(broker, True, f"{len(metadata.brokers)} brokers")]
    checks += _topic_checks(config, metadata)
    groups = {name: f"{config.kafka.group_prefix}.{name}" for name in config.enabled_vendors()}
    futures = admin.describe_consumer_groups(list(groups.values()), request_timeout=timeout_s)
    for group, future in futures.items():
        try:
            description = future.result(timeout=timeout_s)
        except KafkaException as exc:
            checks.append(Check(f"group {group}", False, _kafka_reason(exc)))
            continue
        state = getattr(description.state, "name", str(description.state)).lower()
        checks.append(Check(f"group {group}", True, f"{state}, {len(description.members)} members"))
    return checks


def _sources(config: Config) -> list[tuple[EventType, TopicSettings]]:
    """The source topics the enabled vendors read."""
    kinds = {
        kind for name in config.enabled_vendors() for kind in vendor_classes()[name].event_types
    }
    return config.topics.sources(kinds)


def _topic_checks(config: Config, metadata: Any) -> list[Check]:
    wanted: dict[str, str] = {}
    for kind, source in _sources(config):
        wanted.setdefault(source.name, f"{kind.value} input")
    for name in config.enabled_vendors():
        wanted.setdefault(config.dead_letter.topic_for(name), "dead letters")
    if config.outcomes.enabled:
        wanted.setdefault(config.outcomes.topic, "outcomes")
    checks = []
    for topic, role in wanted.items():
        name = f"topic {topic} ({role})"
        if topic.startswith("^"):
            pattern = re.compile(topic)
            matched = [t for t in metadata.topics if pattern.match(t)]
            checks.append(
                Check(
                    name,
                    bool(matched),
                    f"{len(matched)} topics match" if matched else "no topic matches",
                )
            )
            continue
        meta = metadata.topics.get(topic)
        if meta is None:
            checks.append(Check(name, False, "missing"))
        elif meta.error is not None:
            checks.append(Check(name, False, meta.error.str()))
        else:
            checks.append(Check(name, True, f"{len(meta.partitions)} partitions"))
    return checks


def _kafka_reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else exc
    return error.str() if isinstance(error, KafkaError) else str(error)


# -- HTTP ---------------------------------------------------------------------------------------


def registry_check(config: Config, timeout_s: float) -> Check:
    url = (config.kafka.schema_registry_url or "").rstrip("/")
    name = f"schema registry {url}"
    request = urllib.request.Request(f"{url}/subjects")
    auth = config.kafka.schema_registry_auth()
    if auth:
        token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Check(name, True, f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        return Check(name, False, f"HTTP {exc.code}")
    except (OSError, urllib.error.URLError) as exc:
        return Check(name, False, _os_reason(exc))


def vendor_check(
    vendor: str,
    url: str,
    timeout_s: float,
    resolve: Callable[..., Any] = socket.getaddrinfo,
) -> Check:
    """`url`'s host resolves and answers: a TLS handshake for https, a TCP connect for http."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    name = f"vendor {vendor} {parts.scheme}://{host}:{port}"
    try:
        addresses = resolve(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return Check(name, False, f"does not resolve: {_os_reason(exc)}")
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            if not secure:
                return Check(name, True, f"TCP connect in {_ms(started)}")
            # The default context honours SSL_CERT_FILE (a private CA), as the client does.
            context = ssl.create_default_context()
            with context.wrap_socket(sock, server_hostname=host) as tls:
                return Check(name, True, f"{tls.version()} handshake in {_ms(started)}")
    except ssl.SSLError as exc:
        return Check(name, False, f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        where = addresses[0][4][0] if addresses else host
        return Check(name, False, f"{where}: {_os_reason(exc)}")


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text)


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"
