"""Starts the pipelines, serves metrics and health, handles signals.

Shutdown on SIGTERM or SIGINT, in this order, all within one deadline, `shutdown_deadline_s`
from the signal (so the pod's terminationGracePeriodSeconds only needs a small margin above it):
1. every pipeline stops fetching;
2. in-flight deliveries drain until shortly before the deadline;
3. each pipeline commits what is done and closes its consumer (leaving its group);
4. the dead-letter producer flushes what is left, for the time that is left;
5. the metrics and health server stops.
A second signal exits at once with status 130: still safe, because nothing uncommitted is
lost, it is delivered again by the next consumer of the group.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bridge.config import Config
from bridge.kafka.formats import Decoders
from bridge.kafka.producer import AsyncProducer
from bridge.metrics import Metrics
from bridge.pipeline import Pipeline
from bridge.vendors import build_vendor

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5
STUCK_AFTER_S = 5.0


class Health:
    """What /healthz and /readyz report; read from the server thread, written by the loop."""

    def __init__(self) -> None:
        self.pipelines: list[Pipeline] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.heartbeat = time.monotonic()

    def live(self) -> tuple[bool, str]:
        if time.monotonic() - self.heartbeat > STUCK_AFTER_S:
            return False, "event loop stuck"
        for pipeline, task in zip(self.pipelines, self.tasks, strict=False):
            if task.done() or not pipeline.consumer_alive:
                return False, f"pipeline {pipeline.name} is not running"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        live, why = self.live()
        if not live:
            return False, why
        waiting = [p.name for p in self.pipelines if not p.ready]
        if not self.pipelines or waiting:
            return False, f"not ready: {', '.join(waiting) or 'starting'}"
        return True, "ok"


class StatusServer:
    """/metrics, /healthz and /readyz on a thread of their own.

    A thread, not the event loop, so that /healthz can still answer "stuck" in time when the
    loop is blocked.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a client that opens a connection and sends nothing frees its thread

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif self.path in ("/healthz", "/readyz"):
                    ok, why = health.live() if self.path == "/healthz" else health.ready()
                    self._send(200 if ok else 503, why.encode() + b"\n", "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="status-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


async def run(
    config: Config,
    vendors: Sequence[str] | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the named vendors' pipelines (default: every enabled vendor) until a signal.

    With `stop` given (tests, the demo), setting it stops the bridge and no signal handlers are
    installed.
    """
    # Records in flight are thousands of young objects: at the default threshold (700) the
    # collector rescanned them 300 times in a 30,000-record run, 5-8 us a record (bench/).
    gc.set_threshold(10_000, 50, 50)
    names = list(vendors or config.enabled_vendors())
    config = config.model_copy(update={"kafka": config.kafka.shared_by(len(names))})
    registry = registry or CollectorRegistry()
    metrics = Metrics(registry)
    health = Health()
    server = StatusServer(config.http.host, config.http.port, registry, health)
    server.start()
    loop = asyncio.get_running_loop()
    producer = AsyncProducer(
        {**config.kafka.client_properties(), **config.kafka.producer_properties}, loop
    )
    built = [
        build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)
        for name in names
    ]
    resolved = {v.name: config.vendors[v.name].resolved(v.batches, len(built)) for v in built}
    config = config.model_copy(update={"vendors": {**config.vendors, **resolved}})
    decoders = Decoders.for_pipelines(config, [vendor.event_types for vendor in built])
    pipelines = [Pipeline(config, vendor, producer, metrics, decoders) for vendor in built]
    health.pipelines = pipelines
    health.tasks = [asyncio.create_task(p.run(), name=f"pipeline-{p.name}") for p in pipelines]
    beat = asyncio.create_task(_heartbeat(health), name="heartbeat")
    install_signals = stop is None
    stopping = stop or asyncio.Event()

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            log.warning("second signal: exiting now; uncommitted records will be redelivered")
            os._exit(130)
        log.info("signal %s: draining", signal.Signals(signum).name, extra={"event": "shutdown"})
        stopping.set()

    deadline: list[float] = []

    async def stop_on_request() -> None:
        await stopping.wait()
        deadline.append(loop.time() + config.shutdown_deadline_s)
        for pipeline in pipelines:
            pipeline.stop(deadline[0])

    stopper = asyncio.create_task(stop_on_request(), name="stopper")
    if install_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
    log.info(
        "bridge running for %s; status on port %d",
        ", ".join(f"{name} (concurrency {resolved[name].concurrency})" for name in names),
        server.port,
        extra={"event": "started"},
    )
    try:
        done, _ = await asyncio.wait(health.tasks, return_when=asyncio.FIRST_EXCEPTION)
        crashed = [task for task in done if task.exception() is not None]
        if crashed:
            # One pipeline crashed: stop the others cleanly and exit non-zero, so the
            # orchestrator restarts the process instead of leaving a vendor without delivery.
            stopping.set()
            await asyncio.gather(*health.tasks, return_exceptions=True)
            crashed[0].result()
    finally:
        beat.cancel()
        stopper.cancel()
        left = deadline[0] - loop.time() if deadline else config.shutdown_deadline_s
        await producer.close(max(0.5, left))
        server.stop()
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


async def _heartbeat(health: Health) -> None:
    while True:
        health.heartbeat = time.monotonic()
        await asyncio.sleep(HEARTBEAT_S)
