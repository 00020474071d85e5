"""The vendor registry: every module of this package defining a `Vendor` subclass.

Adding a vendor is adding a module here (and a config block under ``vendors:``); nothing lists
the vendors by hand. Its sandbox stand-in is found by the sandbox's own registry, and
`bridge.tools.sandbox_settings` joins the two; docs/contributing.md has the steps.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any

from bridge.errors import ConfigError
from bridge.vendors.base import Vendor, VendorSettings


def vendor_classes() -> dict[str, type[Vendor[Any]]]:
    """Every concrete `Vendor` subclass of the package's modules, keyed by its `name`."""
    return dict(_discover())


@cache
def _discover() -> tuple[tuple[str, type[Vendor[Any]]], ...]:
    found: dict[str, type[Vendor[Any]]] = {}
    for module_info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                not issubclass(cls, Vendor)
                or inspect.isabstract(cls)
                or cls.__module__ != module.__name__
            ):
                continue
            if cls.name in found:
                raise RuntimeError(
                    f"vendor name {cls.name!r} is defined by both "
                    f"{found[cls.name].__module__} and {module.__name__}"
                )
            found[cls.name] = cls
    return tuple(sorted(found.items()))


def build_vendor(
    name: str, settings: Mapping[str, Any] | VendorSettings, base_url: str | None
) -> Vendor[Any]:
    """The vendor `name` with its `settings` validated; `base_url` None means its default.

    A pydantic `ValidationError` from the settings propagates (the config layer names the
    field); an unknown name raises `ConfigError`.
    """
    classes = vendor_classes()
    if name not in classes:
        raise ConfigError(f"unknown vendor {name!r}; known vendors: {', '.join(classes)}")
    cls = classes[name]
    return cls(cls.settings_model.model_validate(settings), base_url or cls.default_base_url)
