"""Settings: one YAML file, environment overrides, secrets as references, validated at start.

Secrets are written as ``{env: NAME}`` or ``{file: PATH}`` (see `bridge.secrets`) and are held
as `SecretStr`, so printing a config masks them (`Config.masked()`).

The package, one job a module:
- `root`: `Config`, the whole tree, with the http and log sections;
- `kafka`: the cluster and Schema Registry connection (`KafkaSettings`);
- `topics`: the source topics (format, schema, mapping) and the dead-letter and outcome topics;
- `vendor`: one vendor's delivery settings (`VendorConfig`: batches, retries, circuit, limits);
- `loading`: the YAML file, environment overrides and validation (`load_config`,
  `validate_config`), in that order;
- `problems`: every problem reported at once, with its dotted path, a suggestion and the
  environment variable that set it;
- `strict`: the base model of them all (unknown keys refused, values frozen).
"""

from bridge.config.kafka import KafkaSettings
from bridge.config.loading import ENV_PREFIX, apply_env_overrides, load_config, validate_config
from bridge.config.problems import did_you_mean
from bridge.config.root import Config, HttpSettings, LogSettings
from bridge.config.topics import (
    DeadLetterSettings,
    OrderTopic,
    OutcomeSettings,
    ProductViewTopic,
    TopicSettings,
    TopicsSettings,
)
from bridge.config.vendor import BatchSettings, CircuitSettings, RetrySettings, VendorConfig

__all__ = [
    "ENV_PREFIX",
    "BatchSettings",
    "CircuitSettings",
    "Config",
    "DeadLetterSettings",
    "HttpSettings",
    "KafkaSettings",
    "LogSettings",
    "OrderTopic",
    "OutcomeSettings",
    "ProductViewTopic",
    "RetrySettings",
    "TopicSettings",
    "TopicsSettings",
    "VendorConfig",
    "apply_env_overrides",
    "did_you_mean",
    "load_config",
    "validate_config",
]
