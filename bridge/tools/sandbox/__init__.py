"""Local stand-ins for the vendors' HTTP APIs on one port, with fault injection and
inspection of what was received.

Written from the vendor documents in ``vendor-docs/`` alone, deliberately independent of
``bridge.vendors``: a mapper's misreading of a document is then caught here, not mirrored.
Nothing in this package imports from ``bridge`` outside ``bridge.tools.sandbox``.

One module per vendor (``quicklizard.py``, ...) declares its stand-in; the sandbox finds them
by itself (`STAND_INS`), and every list of vendors here derives from that.
"""

from .config import STAND_INS, VENDORS, Faults, SandboxCredentials
from .exchange import Credential, VendorApi
from .running import Sandbox
from .server import create_app

__all__ = [
    "STAND_INS",
    "VENDORS",
    "Credential",
    "Faults",
    "Sandbox",
    "SandboxCredentials",
    "VendorApi",
    "create_app",
]
