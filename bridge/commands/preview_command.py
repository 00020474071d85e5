"""``bridge preview``: resolve its arguments (vendors, config, topic, input) and print the chain.

Which vendors (``--vendor``, else the config's enabled ones), the config read with (a default
one without ``--config``, placeholders for settings it lacks), the topic (an event type name
stands for its first topic in the bridge's own schema) and the record (a file, stdin, or one
offset of Kafka); `bridge.commands.chain` then previews the record and renders the result.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from bridge.commands import EXIT_USAGE, CommandError
from bridge.config import Config, VendorConfig, did_you_mean, load_config
from bridge.errors import ConfigError
from bridge.events import EventType
from bridge.vendors import build_vendor, vendor_classes
from bridge.vendors.base import Vendor


def run_preview(args: argparse.Namespace) -> int:
    from bridge.commands.chain import preview_chain, read_envelope, read_from_kafka, render_chain
    from bridge.commands.preview import RecordError, render

    from_kafka = args.partition is not None or args.offset is not None
    if from_kafka == (args.file is not None):
        raise CommandError("give FILE, or --partition P --offset N", EXIT_USAGE)
    if from_kafka and (args.partition is None or args.offset is None or args.config is None):
        raise CommandError(
            "reading from Kafka needs --partition, --offset and --config", EXIT_USAGE
        )
    names: list[str] = args.vendor or []
    for name in names:
        _known_vendor(name)
    config = load_config(args.config, vendors=names or None) if args.config else None
    if not names:
        if config is None:
            raise CommandError("give --vendor NAME, or --config FILE for its vendors", EXIT_USAGE)
        names = config.enabled_vendors()
    vendors = [_preview_vendor(name, config) for name in names]
    base = _preview_config(config, names)
    topic = _preview_topic(args.topic, base)
    try:
        if from_kafka:
            source = read_from_kafka(base, topic, args.partition, args.offset, args.timeout)
        else:
            source = read_envelope(_read_input(args.file), topic)
        chain = asyncio.run(preview_chain(base, vendors, source, args.timeout))
    except RecordError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_USAGE) from None
    plain = not (from_kafka or chain.mapped or source.key or source.headers or len(vendors) > 1)
    if plain and chain.vendors:  # an own-schema record for one vendor: the record is the event
        (outcome,) = chain.vendors
        if outcome.skipped is not None:
            print(f"would be skipped: {outcome.skipped}")
        elif outcome.dead is not None:
            print(f"would be dead-lettered ({outcome.dead[0]}): {outcome.dead[1]}")
        else:
            print(render(outcome.requests))
        return 0
    print(render_chain(chain))
    return 0


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{name}: cannot read: {exc.strerror}", EXIT_USAGE) from None
    except UnicodeDecodeError:
        raise CommandError(f"{name}: not UTF-8 text", EXIT_USAGE) from None


def _preview_config(config: Config | None, vendors: list[str]) -> Config:
    """The config preview reads with: a default one without --config, and every previewed
    vendor given the default options where the config has none for it."""
    if config is None:
        config = Config.model_validate(
            {"kafka": {"bootstrap_servers": "localhost:9092"}, "vendors": {}}
        )
    missing = {name: VendorConfig() for name in vendors if name not in config.vendors}
    return config.model_copy(update={"vendors": {**config.vendors, **missing}})


def _preview_topic(topic: str, config: Config) -> str:
    """The topic a record is read as; an event type name stands for its first topic in the
    bridge's own schema."""
    sources = config.topics.sources()
    kinds = {kind.value: kind for kind in EventType}
    if topic in kinds:
        own = [
            s.name for k, s in sources if k is kinds[topic] and not s.is_pattern and not s.mapping
        ]
        if not own:
            raise ConfigError(f"--topic {topic}: every {topic} topic has a mapping: name the topic")
        return own[0]
    if any(s.name == topic or (s.is_pattern and re.match(s.name, topic)) for _, s in sources):
        return topic
    names = {*kinds, *(s.name for _, s in sources)}
    raise ConfigError(
        f"--topic {topic}: not a configured topic{did_you_mean(topic, names)}; "
        f"expected one of {', '.join(sorted(names))}"
    )


def _known_vendor(name: str) -> None:
    classes = vendor_classes()
    if name not in classes:
        raise ConfigError(
            f"--vendor {name}: unknown vendor{did_you_mean(name, classes)}; "
            f"known: {', '.join(sorted(classes))}"
        )


def _preview_vendor(name: str, config: Config | None) -> Vendor[Any]:
    classes = vendor_classes()
    if config is not None and name in config.vendor_settings:
        return build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)
    # Without a config, required settings get visible placeholders: the point is the shape.
    model = classes[name].settings_model
    placeholders: dict[str, Any] = {
        field: SecretStr(f"<{field}>") if info.annotation is SecretStr else f"<{field}>"
        for field, info in model.model_fields.items()
        if info.is_required()
    }
    try:
        return build_vendor(name, placeholders, None)
    except ValidationError as exc:
        raise ConfigError(
            f"--vendor {name}: preview needs --config ({exc.error_count()} settings)"
        ) from None
