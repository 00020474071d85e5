"""librdkafka's own log, through Python logging.

Left alone, librdkafka writes its log straight to stderr (``%3|1700000000.123|FAIL|rdkafka#...``):
about a hundred lines a second while a broker is gone, past the JSON format, the redaction and
the collapsing of repeats. Every Kafka client the bridge creates sets `client_logger()` as its
``logger`` property instead; confluent-kafka then queues librdkafka's lines and hands them to it
from the client's own poll, on the thread that polls.

Each line becomes a record of the ``bridge.kafka.librdkafka`` logger with ``event``
``librdkafka_<facility>`` (``librdkafka_fail`` for a refused connection), so `RepeatLimiter`
collapses a flood of one kind into a line per window and `RedactionFilter` masks what it holds.
Warnings and errors keep their level; librdkafka's notices and information become DEBUG.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER_NAME = "bridge.kafka.librdkafka"


class LibrdkafkaLogger(logging.LoggerAdapter[logging.Logger]):
    """What confluent-kafka calls: ``log(level, "%s [%s] %s", facility, client, message)``."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        facility = str(args[0]).lower() if args else "log"
        extra = {**(self.extra or {}), "event": f"librdkafka_{facility}"}
        # Its notices (a reconnect, a disconnect: dozens a second while a broker is gone) are
        # debugging detail; the clients' error callbacks report a broker that is down.
        shown = level if level >= logging.WARNING else logging.DEBUG
        self.logger.log(shown, msg, *args, extra=extra, stacklevel=2)


def client_logger() -> LibrdkafkaLogger:
    """The ``logger`` property for a confluent_kafka Consumer, Producer or AdminClient."""
    return LibrdkafkaLogger(logging.getLogger(LOGGER_NAME))
