"""``bridge check-config``: validate a configuration file, print it masked, optionally connect.

The file is loaded as ``bridge run`` would load it (secret files read), every topic's mapping
is checked (`bridge.commands.mapping_check`), the configuration is printed with its secrets
masked, and ``--connect`` also reaches the broker, schema registry and vendor endpoints
(`bridge.commands.connect`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from bridge.commands import CONFIG_VARIABLE, EXIT_FAILURE, EXIT_USAGE, CommandError
from bridge.config import load_config
from bridge.errors import ConfigError


def run_check_config(args: argparse.Namespace) -> int:
    path: Path | None = args.config_file or args.config
    if path is None:
        raise CommandError(
            f"no configuration: give FILE, --config FILE or set {CONFIG_VARIABLE}", EXIT_USAGE
        )
    if args.config_file and args.config and args.config_file != args.config:
        raise CommandError("give the file once: FILE or --config FILE", EXIT_USAGE)
    config = load_config(path, check_files=True)
    from bridge.commands.mapping_check import check_mappings

    problems, unchecked = check_mappings(config, path)
    for line in unchecked:
        print(f"warning: {line}", file=sys.stderr)
    if problems:
        raise ConfigError("\n".join(problems))
    print(yaml.safe_dump(config.masked(), sort_keys=False), end="")
    print(f"# {path}: valid; enabled vendors: {', '.join(config.enabled_vendors())}")
    from bridge.commands.connect import run_checks

    if not run_checks(config, connect=args.connect, out=sys.stdout):
        return EXIT_FAILURE if args.connect else EXIT_USAGE
    return 0
