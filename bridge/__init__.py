"""bridge: at-least-once delivery of order and product-view events from Kafka to vendors."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
