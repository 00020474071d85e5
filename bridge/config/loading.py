"""Reading a configuration: the YAML file, then environment overrides, then validation.

Loading order:
1. the YAML file (`bridge run --config FILE`);
2. environment overrides: ``BRIDGE__KAFKA__BOOTSTRAP_SERVERS=broker:9092`` sets
   ``kafka.bootstrap_servers``; values are read as YAML scalars, so ``true`` and ``5`` are typed;
3. validation of the whole tree and, independently, of each vendor's own `settings` block by
   the vendor's model. Every problem is reported at once (`bridge.config.problems`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bridge.config.problems import describe, did_you_mean, file_problems
from bridge.config.root import Config
from bridge.errors import ConfigError
from bridge.vendors import vendor_classes
from bridge.vendors.base import VendorSettings

ENV_PREFIX = "BRIDGE__"


def load_config(
    path: Path | str,
    environ: Mapping[str, str] | None = None,
    *,
    vendors: Collection[str] | None = None,
    check_files: bool = False,
) -> Config:
    """Read, override and validate; raise ConfigError listing every bad field with its path.

    `vendors`: validate only these vendors' `settings` (a command that needs none, such as
    `bridge trace`, passes ``()``); None validates every enabled vendor's. `check_files`: see
    `validate_config`; the commands that run here set it.
    """
    raw = _read_yaml(Path(path))
    environ = os.environ if environ is None else environ
    overrides = apply_env_overrides(raw, environ)
    return validate_config(
        raw, environ, vendors=vendors, overrides=overrides, check_files=check_files
    )


def validate_config(
    raw: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    vendors: Collection[str] | None = None,
    overrides: Mapping[tuple[str, ...], str] | None = None,
    check_files: bool = False,
) -> Config:
    """The validated configuration; every problem of every section reported in one ConfigError.

    The top level and each vendor's `settings` block are validated independently, so an error
    in one never hides another's. `overrides` maps a dotted path set from the environment to
    the variable that set it, so an error there names the variable. `check_files`: also
    refuse files this machine cannot read (schemas, TLS files), for a configuration about to
    run here rather than one checked for another machine (a chart, a compose file).
    """
    context = {"environ": os.environ if environ is None else environ}
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        problems.extend(describe(exc.errors(), Config, overrides=overrides))
    known = vendor_classes()
    raw_vendors = raw.get("vendors")
    vendor_settings: dict[str, VendorSettings] = {}
    for name, block in (raw_vendors if isinstance(raw_vendors, dict) else {}).items():
        cls = known.get(name)
        if cls is None:
            problems.append(
                f"vendors.{name}: unknown vendor{did_you_mean(str(name), known)}; "
                f"known: {', '.join(sorted(known))}"
            )
            continue
        settings = block.get("settings", {}) if isinstance(block, dict) else None
        if not isinstance(settings, dict) or block.get("enabled", True) is False:
            continue  # a block of the wrong shape is reported by the top level
        if vendors is not None and name not in vendors:
            continue
        try:
            vendor_settings[name] = cls.settings_model.model_validate(settings, context=context)
        except ValidationError as exc:
            problems.extend(
                describe(
                    exc.errors(),
                    cls.settings_model,
                    prefix=("vendors", name, "settings"),
                    overrides=overrides,
                )
            )
    if check_files:
        problems.extend(file_problems(raw, overrides))
    if config is not None and vendors is None and not config.enabled_vendors():
        problems.append("vendors: no vendor is enabled")
    if problems or config is None:
        raise ConfigError("\n".join(problems))
    return config.model_copy(update={"vendor_settings": vendor_settings})


def apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Set ``raw[a][b] = value`` for every ``BRIDGE__A__B=value`` in the environment.

    Returns each path set, with the name of the variable that set it.
    """
    overrides: dict[tuple[str, ...], str] = {}
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in key[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(f"{key}: empty path segment in environment override")
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: {'.'.join(path)} crosses a non-mapping value")
            node = child
        try:
            node[path[-1]] = yaml.safe_load(environ[key]) if environ[key] else ""
        except yaml.YAMLError:
            raise ConfigError(f"{key}: not a valid YAML value") from None
        overrides[tuple(path)] = key
    return overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data
