"""One `bridge status`: the figures of each vendor collected, then printed."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import TextIO

from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from bridge.commands.status.broker import (
    describe_groups,
    partition_statuses,
    recent_dead_letters,
    topic_partitions,
)
from bridge.commands.status.instance import instance_status, scrape
from bridge.commands.status.rendering import render, to_json
from bridge.commands.status.report import VendorStatus
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake
from bridge.vendors import build_vendor


def collect(
    config: Config,
    vendors: list[str] | None = None,
    instance: str | None = None,
    now: float | None = None,
) -> list[VendorStatus]:
    now = time.time() if now is None else now
    names = vendors or config.enabled_vendors()
    unknown = sorted(set(names) - set(config.vendor_settings))
    if unknown:
        raise ConfigError(f"--vendor {', '.join(unknown)}: not an enabled vendor of the config")
    admin = AdminClient(config.kafka.client_properties())
    metrics = Metrics(CollectorRegistry())
    groups = {name: f"{config.kafka.group_prefix}.{name}" for name in names}
    descriptions = describe_groups(admin, list(groups.values()))
    letters = recent_dead_letters(config, names, now)
    scraped = scrape(instance) if instance else {}
    result = []
    for name in names:
        vendor = build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)
        topics = Intake(config, vendor, metrics).topics  # the live pipeline's own topics
        state, members = descriptions.get(groups[name], ("unknown", []))
        partitions, missing = topic_partitions(admin, topics)
        status = VendorStatus(
            vendor=name,
            group=groups[name],
            state=state,
            members=members,
            missing_topics=missing,
            partitions=partition_statuses(admin, groups[name], partitions, now),
            dead_letters_last_hour=dict(sorted(letters.get(name, Counter()).items())),
        )
        if instance:
            status.instance = instance_status(instance, name, scraped)
        result.append(status)
    return result


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vendor", action="append", help="only this vendor (repeatable; default: every enabled)"
    )
    parser.add_argument(
        "--instance",
        metavar="URL",
        help="a running bridge's status port, e.g. http://host:9400: adds its circuit state, "
        "paused partitions and readiness",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")


def run_status(config: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`bridge status`: 0 when every vendor's figures could be read."""
    out = out or sys.stdout
    statuses = collect(config, args.vendor, args.instance)
    out.write((to_json(statuses) if args.json else render(statuses)) + "\n")
    return 0
