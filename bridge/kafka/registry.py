"""The Schema Registry: writer schemas by id, through `confluent_kafka.schema_registry`.

`Registry` wraps the library's `AsyncSchemaRegistryClient` (basic or bearer auth, TLS with a
CA bundle and client certificates, its own cache of schemas by id and by subject version) and
adds what the bridge needs of it:
- schema references, resolved depth first (a reference's references before it), so fastavro
  parses the referencing schema with every named type it uses;
- one classification: a schema the registry does not know, or one that is not Avro, is a
  `DecodeError` (the record can never be decoded: dead letter); anything else (the registry
  down, slow, refusing our credentials) is raised as `RegistryUnavailableError` and is
  transient for the caller, who waits and reports not ready.

Decoding stays with fastavro (`bridge.kafka.avro`): the library's deserializer builds the
same fastavro reader per record plus its rule machinery, and is slower for nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bridge.config import KafkaSettings
from bridge.errors import DecodeError

TIMEOUT_S = 10
NOT_FOUND = 404


class RegistryUnavailableError(Exception):
    """The registry could not answer now (down, slow, refusing us): try again later."""


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A registered Avro schema and the schemas it references, dependencies first."""

    schema: dict[str, Any]
    references: tuple[dict[str, Any], ...] = ()


def client_conf(kafka: KafkaSettings) -> dict[str, Any]:
    """The library's configuration from the bridge's `kafka.schema_registry_*` settings."""
    assert kafka.schema_registry_url is not None
    conf: dict[str, Any] = {
        "url": kafka.schema_registry_url,
        "timeout": TIMEOUT_S,
        # One attempt per call: the caller waits and tries again, and reports not ready.
        "max.retries": 0,
    }
    auth = kafka.schema_registry_auth()
    if auth is not None:
        conf["basic.auth.user.info"] = f"{auth[0]}:{auth[1]}"
    if kafka.schema_registry_bearer_token is not None:
        conf["bearer.auth.credentials.source"] = "STATIC_TOKEN"
        conf["bearer.auth.token"] = kafka.schema_registry_bearer_token.get_secret_value()
        conf["bearer.auth.logical.cluster"] = kafka.schema_registry_logical_cluster or ""
    files = {
        "ssl.ca.location": kafka.schema_registry_ssl_ca_location,
        "ssl.certificate.location": kafka.schema_registry_ssl_certificate_location,
        "ssl.key.location": kafka.schema_registry_ssl_key_location,
    }
    conf.update({key: str(path) for key, path in files.items() if path is not None})
    if kafka.schema_registry_ssl_key_password is not None:
        conf["ssl.key.password"] = kafka.schema_registry_ssl_key_password.get_secret_value()
    return conf


class Registry:
    """Writer schemas by id (for decoding) or by subject (for check-config)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        # Imported here, not at the top: the library's registry client brings httpx, authlib
        # and cryptography, about 13 MB resident that a bridge without a confluent-format
        # topic would carry for nothing.
        from confluent_kafka.schema_registry import AsyncSchemaRegistryClient

        self._client = AsyncSchemaRegistryClient(client_conf(kafka))

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def by_id(self, schema_id: int) -> WriterSchema:
        """The writer schema `schema_id`; DecodeError when it is unknown or unusable."""
        schema = await self._call(self._client.get_schema(schema_id), f"schema id {schema_id}")
        return await self._resolve(schema, f"schema id {schema_id}")

    async def latest(self, subject: str) -> WriterSchema:
        """The latest schema of `subject`; DecodeError when there is none."""
        registered = await self._call(
            self._client.get_latest_version(subject), f"subject {subject}"
        )
        return await self._resolve(registered.schema, f"subject {subject}")

    async def _resolve(self, schema: Any, what: str) -> WriterSchema:
        kind = schema.schema_type or "AVRO"
        if kind != "AVRO":
            raise DecodeError("unusable_schema", f"{what} is {kind}, not Avro")
        references: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        await self._references(schema, references, seen, what)
        return WriterSchema(_json(schema.schema_str, what), tuple(references))

    async def _references(
        self, schema: Any, found: list[dict[str, Any]], seen: set[tuple[str, int]], what: str
    ) -> None:
        for reference in schema.references or ():
            key = (reference.subject, reference.version)
            if key in seen:
                continue
            seen.add(key)
            where = f"{what}, reference {reference.subject} version {reference.version}"
            registered = await self._call(
                self._client.get_version(reference.subject, reference.version), where
            )
            await self._references(registered.schema, found, seen, where)
            found.append(_json(registered.schema.schema_str, where))

    @staticmethod
    async def _call(call: Any, what: str) -> Any:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return await call
        except SchemaRegistryError as exc:
            if exc.http_status_code == NOT_FOUND:
                raise DecodeError("unknown_schema_id", f"{what} is not registered") from None
            raise RegistryUnavailableError(
                f"{what}: HTTP {exc.http_status_code} from the registry"
            ) from None
        except Exception as exc:  # the HTTP client's errors: connection, TLS, timeout
            raise RegistryUnavailableError(f"{what}: {type(exc).__name__}") from None


def _json(text: str | None, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        raise DecodeError("unusable_schema", f"{what} is not Avro JSON") from None
    if isinstance(value, str):  # a primitive schema, written as a JSON string
        value = {"type": value}
    if not isinstance(value, dict):
        raise DecodeError("unusable_schema", f"{what} is not an Avro record schema")
    return value
