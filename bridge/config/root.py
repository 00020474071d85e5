"""`Config`, the whole settings tree, with its small sections (http, log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from bridge.config.kafka import KafkaSettings
from bridge.config.strict import StrictModel
from bridge.config.topics import DeadLetterSettings, OutcomeSettings, TopicsSettings
from bridge.config.vendor import VendorConfig
from bridge.events import DEFAULT_SCHEMAS_DIR
from bridge.vendors.base import VendorSettings


class HttpSettings(StrictModel):
    host: str = "0.0.0.0"
    port: int = Field(default=9400, ge=0, le=65535)


class LogSettings(StrictModel):
    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(StrictModel):
    kafka: KafkaSettings
    topics: TopicsSettings = TopicsSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    vendors: dict[str, VendorConfig]
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR
    commit_interval_s: float = Field(default=0.2, gt=0)
    """How often done offsets are committed while they move (nothing is sent while they do
    not): a kill -9 redelivers at most what was done in the last interval plus what was in
    flight."""
    shutdown_deadline_s: float = Field(default=25, gt=0)
    """Graceful drain on SIGTERM; keep it below the pod's terminationGracePeriodSeconds."""
    revoke_timeout_s: float = Field(default=10, gt=0)
    """How long a revoked partition's in-flight records may finish before the hand-over."""

    vendor_settings: dict[str, VendorSettings] = Field(default_factory=dict, exclude=True)
    """Each vendor's validated `settings` block; filled by `load_config`, not by YAML."""

    def enabled_vendors(self) -> list[str]:
        return [name for name, vendor in self.vendors.items() if vendor.enabled]

    def masked(self) -> dict[str, Any]:
        """The configuration as a plain tree, every secret replaced by ``'**********'``."""
        dumped = self.model_dump(mode="json", exclude={"vendor_settings"})
        for name, settings in self.vendor_settings.items():
            dumped["vendors"][name]["settings"] = settings.model_dump(mode="json")
        return dumped
