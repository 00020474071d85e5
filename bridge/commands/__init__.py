"""Operator commands beside the service: preview, produce, trace, demo (the CLI wires them)."""
