"""Secrets come from environment variables or mounted files, never from the YAML itself.

In the configuration a secret is written as a reference, ``{env: NAME}`` or ``{file: PATH}``,
and resolved while the configuration is validated, so a missing secret fails at start with
the path of the field that needs it. The value is held as a `pydantic.SecretStr`, whose
``str()`` and ``repr()`` print asterisks: a secret printed by accident is masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo

from bridge.redaction import register_secret

REFERENCE_FORM = "a reference {env: VARIABLE} or {file: /mounted/path}"


def resolve_secret(value: Any, info: ValidationInfo | None = None) -> SecretStr:
    """Turn a secret reference into its value; raise ValueError naming what is wrong.

    The environment is the validation context's ``environ`` when given (tests, checks of a
    compose file's environment), else the process environment.
    """
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"expected {REFERENCE_FORM}; secrets are never written inline")
    ((kind, where),) = value.items()
    if kind == "env":
        context = info.context if info is not None else None
        environ: Mapping[str, str] = (context or {}).get("environ") or os.environ
        found = environ.get(str(where))
        if not found:
            raise ValueError(f"environment variable {where} is not set or empty")
        return SecretStr(found)
    if kind == "file":
        path = Path(str(where))
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not text:
            raise ValueError(f"secret file {path} is empty")
        return SecretStr(text)
    raise ValueError(f"unknown secret source {kind!r}; expected {REFERENCE_FORM}")


def _validate(value: Any, info: ValidationInfo) -> SecretStr:
    secret = resolve_secret(value, info)
    # The log redactor masks every resolved secret, should one ever reach a log line.
    register_secret(secret.get_secret_value())
    return secret


Secret = Annotated[SecretStr, BeforeValidator(_validate)]
"""A configuration field holding a secret resolved from the environment or a file."""
