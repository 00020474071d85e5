"""The command line; the only place logging is configured.

    bridge run [--config FILE] [--vendor NAME ...] [--log-level LEVEL]
    bridge check-config [FILE | --config FILE]
    bridge preview [--vendor NAME ...] --topic TOPIC FILE.json|- [--config FILE]
    bridge preview [--vendor NAME ...] --topic TOPIC --partition P --offset N --config FILE
    bridge sandbox [--host H] [--port P] [--fault VENDOR:FIELD=VALUE ...]
    bridge produce [--config FILE] [--rate N] [--count N]
    bridge trace ID [--config FILE]
    bridge demo [--seconds N] [--rate N] [--workdir DIR]

``--config`` defaults to the ``BRIDGE_CONFIG`` environment variable. A problem the user can act
on (a bad key, a missing file, an unknown vendor, Kafka unreachable) is one message on stderr
and an exit status (`EPILOG`), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException

from bridge import __version__
from bridge.commands import CONFIG_VARIABLE, EXIT_FAILURE, EXIT_USAGE, CommandError
from bridge.config import Config, LogSettings, did_you_mean, load_config
from bridge.errors import ConfigError
from bridge.logs import configure_logging

log = logging.getLogger("bridge")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_INTERRUPTED = 130

DESCRIPTION = (
    "Deliver order and product-view events from Kafka to marketing vendors' HTTP APIs, "
    "committing an offset only once the vendor acknowledged the event."
)
EPILOG = f"""\
The configuration is one YAML file: --config FILE, or the {CONFIG_VARIABLE} environment variable.
BRIDGE__SECTION__KEY=value environment variables override any key of it.

exit status:
  0    success; for preview, also a record the vendor would skip (it says why)
  {EXIT_FAILURE}    a failure at run time: Kafka, a vendor or a schema registry unreachable;
       trace found no outcome for the id
  {EXIT_USAGE}    bad configuration, arguments or input file: nothing was started
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


PREVIEW_EPILOG = f"""\
The record comes from Kafka (--partition P --offset N, with --config: read by a consumer
assigned to that one offset, in no group, committing nothing) or from FILE: the record's value
as JSON, or an envelope {{"value": ..., "key": "K", "headers": {{"NAME": "VALUE"}}}} for a topic
whose mapping reads the key or headers. It is decoded per the topic's format, mapped by the
topic's mapping, and each vendor's request(s) are printed with secrets masked.

exit status:
  0    shown: the requests, or why the record would be skipped or dead-lettered
       ("would be dead-lettered (mapping): <field> <- <where>: <why>")
  {EXIT_FAILURE}    Kafka or the schema registry unreachable; no record at that offset
  {EXIT_USAGE}    bad configuration, arguments or input file
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows an option's default in its help, unless it has none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
        ):
            text += " (default: %(default)s)"
        return text


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"bridge {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KafkaException as exc:  # what the configuration could not name (a client property)
        error = exc.args[0] if exc.args else exc
        text = error.str() if isinstance(error, KafkaError) else str(error)
        print(f"bridge {args.command}: Kafka: {text}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge", description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, epilog=EPILOG, formatter_class=_HelpFormatter
        )

    run = command("run", "deliver events to the vendors until SIGTERM")
    _config_option(run)
    run.add_argument(
        "--vendor",
        action="append",
        help="run only this vendor's pipeline (repeatable); only its settings are checked",
    )
    _log_level_option(run)
    run.set_defaults(handler=_run)

    check = command("check-config", "validate a configuration file, print it masked, and exit")
    check.add_argument(
        "config_file", nargs="?", type=Path, metavar="FILE", help="the file (or use --config)"
    )
    _config_option(check, required=False)
    check.add_argument(
        "--connect",
        action="store_true",
        help="also check the broker, topics, groups, schema registry and vendor endpoints",
    )
    check.set_defaults(handler=_check_config)

    about = "show one record, the event it maps to and each vendor's request(s); send nothing"
    preview = commands.add_parser(
        "preview",
        help=about,
        description=about,
        epilog=PREVIEW_EPILOG,
        formatter_class=_HelpFormatter,
    )
    preview.add_argument(
        "--vendor",
        action="append",
        help="this vendor (repeatable; default: every enabled vendor of --config)",
    )
    preview.add_argument(
        "--topic", required=True, help="the record's topic (or event type: own-schema record)"
    )
    preview.add_argument(
        "--config", type=Path, help="use this config's settings and topics (default: placeholders)"
    )
    preview.add_argument("--partition", type=int, help="read the record from Kafka: its partition")
    preview.add_argument("--offset", type=int, help="read the record from Kafka: its offset")
    preview.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for Kafka or the registry"
    )
    preview.add_argument(
        "file", nargs="?", help="the record as JSON (value, or envelope), or - for stdin"
    )
    preview.set_defaults(handler=_preview)

    from bridge.tools.sandbox import command as sandbox_command

    sandbox = command("sandbox", "serve local stand-ins for the vendors")
    sandbox_command.configure_parser(sandbox)
    sandbox.set_defaults(handler=_sandbox)

    produce = command("produce", "write sample events to the configured topics")
    _config_option(produce)
    produce.add_argument("--rate", type=float, default=50.0, help="events per second (0: max)")
    produce.add_argument("--count", type=int, help="stop after this many events (default: never)")
    produce.add_argument("--seed", type=int, default=7, help="seed of the sample events")
    _log_level_option(produce)
    produce.set_defaults(handler=_produce)

    trace = command("trace", "what happened to one order or event, per vendor")
    trace.add_argument("id", help="an order id, event id or product id")
    _config_option(trace)
    trace.add_argument("--timeout", type=float, default=30.0, help="seconds to read at most")
    _log_level_option(trace, default="WARNING")
    trace.set_defaults(handler=_trace)

    from bridge.commands import replay as replay_command
    from bridge.commands import status as status_command

    replay = command("replay", "send dead letters again to the vendor they failed at")
    _config_option(replay)
    replay_command.configure_parser(replay)
    replay.set_defaults(handler=_replay)

    status = command("status", "each vendor's offsets, lag, group members and dead letters")
    _config_option(status)
    status_command.configure_parser(status)
    status.set_defaults(handler=_status)

    demo = command("demo", "run everything locally: broker, sandbox, sample events, bridge")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    demo.add_argument("--rate", type=float, default=40.0, help="events per second")
    demo.add_argument(
        "--workdir",
        type=Path,
        help="keep the config, secrets and logs here (default: a temporary folder, removed)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _config_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    default = os.environ.get(CONFIG_VARIABLE) or None
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(default) if default else None,
        required=required and default is None,
        metavar="FILE",
        help=f"the configuration file (YAML); defaults to ${CONFIG_VARIABLE}",
    )


def _log_level_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default,
        help="log level (default: the config's log.level)" if default is None else "log level",
    )


def _log_settings(config: Config, args: argparse.Namespace) -> LogSettings:
    if args.log_level is None:
        return config.log
    return config.log.model_copy(update={"level": args.log_level})


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config, vendors=args.vendor, check_files=True)
    enabled = config.enabled_vendors()
    unknown = [name for name in args.vendor or () if name not in enabled]
    if unknown:
        raise ConfigError(
            "\n".join(
                f"--vendor {name}: not an enabled vendor of the config"
                f"{did_you_mean(name, enabled)}; enabled: {', '.join(enabled)}"
                for name in unknown
            )
        )
    configure_logging(_log_settings(config, args))
    from bridge.app import run

    asyncio.run(run(config, args.vendor))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from bridge.commands.check_config import run_check_config

    return run_check_config(args)


def _preview(args: argparse.Namespace) -> int:
    from bridge.commands.preview_command import run_preview

    return run_preview(args)


def _sandbox(args: argparse.Namespace) -> int:
    from bridge.tools.sandbox import command as sandbox_command

    configure_logging(LogSettings(format="text"))
    result: int = sandbox_command.run(args)
    return result


def _produce(args: argparse.Namespace) -> int:
    from bridge.commands.produce import produce_samples

    config = load_config(args.config, vendors=(), check_files=True)
    configure_logging(_log_settings(config, args))
    sent = produce_samples(config, args.rate, args.count, args.seed)
    log.info("produced %d events", sent, extra={"event": "produced"})
    return 0


def _trace(args: argparse.Namespace) -> int:
    from bridge.commands.trace import find_outcomes, render

    # Only Kafka and the outcome topic matter here: no vendor's secrets are needed.
    config = load_config(args.config, vendors=())
    # The table goes to stdout; Kafka's complaints, if any, to stderr as log lines.
    configure_logging(LogSettings(format="text", level=args.log_level), stream=sys.stderr)
    outcomes = find_outcomes(config, args.id, args.timeout)
    print(render(args.id, outcomes))
    return 0 if outcomes else EXIT_FAILURE


def _replay(args: argparse.Namespace) -> int:
    from bridge.commands.replay import run_replay

    config = load_config(args.config, vendors=[args.vendor], check_files=True)
    configure_logging(LogSettings(format="text", level="WARNING"), stream=sys.stderr)
    return run_replay(config, args)


def _status(args: argparse.Namespace) -> int:
    from bridge.commands.status import run_status

    config = load_config(args.config, vendors=args.vendor, check_files=True)
    configure_logging(LogSettings(format="text", level="WARNING"), stream=sys.stderr)
    return run_status(config, args)


def _demo(args: argparse.Namespace) -> int:
    from bridge.commands.demo import run_demo

    return run_demo(seconds=args.seconds, rate=args.rate, workdir=args.workdir)


if __name__ == "__main__":
    sys.exit(main())
