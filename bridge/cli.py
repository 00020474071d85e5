"""The command line; the only place logging is configured.

    bridge run --config FILE [--vendor NAME ...]
    bridge check-config FILE
    bridge preview --vendor NAME --topic TOPIC FILE.json|- [--config FILE]
    bridge sandbox [--host H] [--port P] [--fault VENDOR:FIELD=VALUE ...]
    bridge produce --config FILE [--rate N] [--count N]
    bridge trace ID --config FILE
    bridge demo [--seconds N] [--rate N]

Exit status: 0 success, 1 runtime failure, 2 bad configuration or input.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from bridge import __version__
from bridge.config import Config, LogSettings, load_config
from bridge.errors import ConfigError
from bridge.events import EventType
from bridge.logs import configure_logging
from bridge.vendors import build_vendor, vendor_classes
from bridge.vendors.base import Vendor

log = logging.getLogger("bridge")

EXIT_FAILURE = 1
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="deliver events to the vendors until SIGTERM")
    run.add_argument("--config", required=True, type=Path)
    run.add_argument(
        "--vendor", action="append", help="run only this vendor's pipeline (repeatable)"
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("config", type=Path)
    check.set_defaults(handler=_check_config)

    preview = commands.add_parser("preview", help="print the HTTP request(s) for one record")
    preview.add_argument("--vendor", required=True)
    preview.add_argument("--topic", required=True, help="the record's topic (or event type)")
    preview.add_argument("--config", type=Path, help="use this config's settings and topics")
    preview.add_argument("file", help="the record as JSON, or - for standard input")
    preview.set_defaults(handler=_preview)

    from bridge.tools.sandbox import command as sandbox_command

    sandbox = commands.add_parser("sandbox", help="serve local stand-ins for the vendors")
    sandbox_command.configure_parser(sandbox)
    sandbox.set_defaults(handler=_sandbox)

    produce = commands.add_parser("produce", help="write sample events to the topics")
    produce.add_argument("--config", required=True, type=Path)
    produce.add_argument("--rate", type=float, default=50.0, help="events per second (0: max)")
    produce.add_argument("--count", type=int, help="stop after this many events")
    produce.add_argument("--seed", type=int, default=7)
    produce.set_defaults(handler=_produce)

    trace = commands.add_parser("trace", help="what happened to one order or event, per vendor")
    trace.add_argument("id", help="an order id, event id or product id")
    trace.add_argument("--config", required=True, type=Path)
    trace.add_argument("--timeout", type=float, default=30.0, help="seconds to read at most")
    trace.set_defaults(handler=_trace)

    demo = commands.add_parser("demo", help="run everything locally: broker, sandbox, bridge")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    demo.add_argument("--rate", type=float, default=40.0, help="events per second")
    demo.add_argument("--workdir", type=Path, help="where to keep logs (default: a temp dir)")
    demo.set_defaults(handler=_demo)
    return parser


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(config.log)
    unknown = sorted(set(args.vendor or ()) - set(config.enabled_vendors()))
    if unknown:
        raise ConfigError(f"--vendor {', '.join(unknown)}: not an enabled vendor of the config")
    from bridge.app import run

    asyncio.run(run(config, args.vendor))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(yaml.safe_dump(config.masked(), sort_keys=False), end="")
    print(f"# {args.config}: valid; enabled vendors: {', '.join(config.enabled_vendors())}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from bridge.commands.preview import RecordError, load_record, preview, render

    config = load_config(args.config) if args.config else None
    event_type = _event_type(args.topic, config)
    vendor = _preview_vendor(args.vendor, config)
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        record = load_record(text, event_type)
    except RecordError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render(preview(vendor, event_type, record)))
    return 0


def _event_type(topic: str, config: Config | None) -> EventType:
    names = {kind.value: kind for kind in EventType}
    for kind, settings in (
        (config.topics if config else Config.model_fields["topics"].default).by_event_type().items()
    ):
        names[settings.name] = kind
    if topic not in names:
        raise ConfigError(
            f"--topic {topic}: not a configured topic; expected one of {sorted(names)}"
        )
    return names[topic]


def _preview_vendor(name: str, config: Config | None) -> Vendor[Any]:
    classes = vendor_classes()
    if name not in classes:
        raise ConfigError(f"--vendor {name}: unknown vendor; known: {', '.join(sorted(classes))}")
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


def _sandbox(args: argparse.Namespace) -> int:
    from bridge.tools.sandbox import command as sandbox_command

    configure_logging(LogSettings(format="text"))
    result: int = sandbox_command.run(args)
    return result


def _produce(args: argparse.Namespace) -> int:
    from bridge.commands.produce import produce_samples

    config = load_config(args.config)
    configure_logging(config.log)
    sent = produce_samples(config, args.rate, args.count, args.seed)
    log.info("produced %d events", sent, extra={"event": "produced"})
    return 0


def _trace(args: argparse.Namespace) -> int:
    from bridge.commands.trace import find_outcomes, render

    config = load_config(args.config)
    outcomes = find_outcomes(config, args.id, args.timeout)
    print(render(args.id, outcomes))
    return 0 if outcomes else EXIT_FAILURE


def _demo(args: argparse.Namespace) -> int:
    from bridge.commands.demo import run_demo

    return run_demo(seconds=args.seconds, rate=args.rate, workdir=args.workdir)


if __name__ == "__main__":
    sys.exit(main())
