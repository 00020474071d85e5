"""Operator commands beside the service: check-config, preview, produce, trace, replay, status,
demo (the CLI wires them)."""

from __future__ import annotations

CONFIG_VARIABLE = "BRIDGE_CONFIG"
"""The environment variable ``--config`` defaults to."""
EXIT_FAILURE = 1
"""Something at run time failed: Kafka, a vendor or a schema registry unreachable."""
EXIT_USAGE = 2
"""Bad configuration, arguments or input file: nothing was started."""


class CommandError(Exception):
    """A problem the user can act on: the CLI prints the message, no traceback, and exits.

    The message never carries secrets or personal data.
    """

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
