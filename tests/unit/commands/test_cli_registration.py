"""The operator commands as the CLI parses them."""

from __future__ import annotations

from pathlib import Path

from bridge.cli import _parser
from bridge.commands.replay import options_from


def test_check_config_takes_the_file_either_way_and_connect() -> None:
    parser = _parser()
    positional = parser.parse_args(["check-config", "bridge.yaml", "--connect"])
    assert (positional.config_file, positional.connect) == (Path("bridge.yaml"), True)
    option = parser.parse_args(["check-config", "--config", "bridge.yaml"])
    assert (option.config, option.connect) == (Path("bridge.yaml"), False)


def test_replay_arguments_become_a_selection() -> None:
    args = _parser().parse_args(
        [
            "replay",
            "--config",
            "bridge.yaml",
            "--vendor",
            "qubit",
            "--class",
            "rejected",
            "--class",
            "per_event",
            "--status",
            "400",
            "--source-topic",
            "orders",
            "--min-offset",
            "10",
            "--since",
            "2024-05-01T00:00:00Z",
            "--id",
            "O-1",
            "--from-beginning",
            "--dry-run",
        ]
    )
    options = options_from(args)
    selection = options.selection
    assert selection.vendor == "qubit"
    assert selection.classes == {"rejected", "per_event"}
    assert selection.statuses == {400}
    assert (selection.source_topic, selection.min_offset, selection.id) == ("orders", 10, "O-1")
    assert selection.since_ms == 1_714_521_600_000
    assert options.from_beginning
    assert options.dry_run


def test_status_takes_vendors_an_instance_and_json() -> None:
    args = _parser().parse_args(
        [
            "status",
            "--config",
            "c.yaml",
            "--vendor",
            "qubit",
            "--instance",
            "http://h:9400",
            "--json",
        ]
    )
    assert (args.vendor, args.instance, args.json) == (["qubit"], "http://h:9400", True)
