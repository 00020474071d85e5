"""Local stand-ins for the five vendors' HTTP APIs on one port, with fault injection and
inspection of what was received.

Written from the vendor documents in ``vendor-docs/`` alone, deliberately independent of
``bridge.vendors``: a mapper's misreading of a document is then caught here, not mirrored.
Nothing in this package imports from ``bridge`` outside ``bridge.tools.sandbox``.
"""

from .config import VENDORS, Faults, SandboxCredentials
from .server import Sandbox, create_app

__all__ = ["VENDORS", "Faults", "Sandbox", "SandboxCredentials", "create_app"]
