"""A small Schema Registry on loopback: the REST endpoints the bridge's client uses, behind
basic auth, and the one a producer registers with.

GET  /schemas/ids/{id}                   the schema (string), its type and references
GET  /subjects/{subject}/versions/{v}    v a number or ``latest``
POST /subjects/{subject}/versions        register {"schema", "references"?} -> {"id"}

Every request without the right ``Authorization: Basic`` header gets 401 (and is counted).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Registered:
    id: int
    subject: str
    version: int
    schema: dict[str, Any]
    references: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "version": self.version,
            "schema": orjson.dumps(self.schema).decode(),
            "schemaType": "AVRO",
            "references": self.references,
        }


@dataclass
class RegistryServer:
    url: str
    user: str
    password: str
    schemas: dict[int, Registered] = field(default_factory=dict)
    subjects: dict[str, list[Registered]] = field(default_factory=dict)
    refused: int = 0
    served: int = 0

    def register(
        self, subject: str, schema: dict[str, Any], references: list[dict[str, Any]] | None = None
    ) -> int:
        versions = self.subjects.setdefault(subject, [])
        entry = Registered(
            len(self.schemas) + 1, subject, len(versions) + 1, schema, references or []
        )
        self.schemas[entry.id] = entry
        versions.append(entry)
        return entry.id


def _not_found(message: str) -> web.Response:
    return web.json_response({"error_code": 40403, "message": message}, status=404)


@contextlib.asynccontextmanager
async def registry_server(user: str, password: str) -> AsyncIterator[RegistryServer]:
    server = RegistryServer("", user, password)
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    @web.middleware
    async def basic_auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != expected:
            server.refused += 1
            return web.json_response({"error_code": 401, "message": "Unauthorized"}, status=401)
        server.served += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def by_id(request: web.Request) -> web.Response:
        entry = server.schemas.get(int(request.match_info["id"]))
        if entry is None:
            return _not_found("Schema not found")
        body = entry.body()
        return web.json_response({k: body[k] for k in ("schema", "schemaType", "references")})

    async def version(request: web.Request) -> web.Response:
        versions = server.subjects.get(request.match_info["subject"], [])
        wanted = request.match_info["version"]
        chosen = versions[-1:] if wanted == "latest" else versions[int(wanted) - 1 : int(wanted)]
        if not chosen:
            return _not_found("Subject or version not found")
        return web.json_response(chosen[0].body())

    async def register(request: web.Request) -> web.Response:
        body = await request.json()
        schema_id = server.register(
            request.match_info["subject"], orjson.loads(body["schema"]), body.get("references")
        )
        return web.json_response({"id": schema_id})

    app = web.Application(middlewares=[basic_auth])
    app.router.add_get("/schemas/ids/{id}", by_id)
    app.router.add_get("/subjects/{subject}/versions/{version}", version)
    app.router.add_post("/subjects/{subject}/versions", register)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()
