"""`bridge status`: every vendor's state, from Kafka (and a running instance, when given).

Per vendor (its group ``<group_prefix>.<vendor>``), per topic and partition: the committed
offset and the commit's time, the end offset, the lag; the group's state and members; the dead
letters of the last hour by error class. With ``--instance URL`` (a bridge's status port), the
circuit state, paused partitions and readiness scraped from its ``/metrics`` and ``/readyz``.

The package, one job a module:
- `report`: what is reported, per vendor;
- `broker`: the figures read from Kafka (offsets, lag, members, dead letters), read-only;
- `instance`: a running instance's state, scraped;
- `rendering`: the report as text or JSON;
- `run`: the command: collect, then print.
"""

from bridge.commands.status.broker import DEAD_LETTER_WINDOW_S, TIMEOUT_S
from bridge.commands.status.instance import instance_status
from bridge.commands.status.rendering import render, to_json
from bridge.commands.status.report import InstanceStatus, Member, PartitionStatus, VendorStatus
from bridge.commands.status.run import collect, configure_parser, run_status

_instance_status = instance_status  # the name the unit tests import

__all__ = [
    "DEAD_LETTER_WINDOW_S",
    "TIMEOUT_S",
    "InstanceStatus",
    "Member",
    "PartitionStatus",
    "VendorStatus",
    "collect",
    "configure_parser",
    "instance_status",
    "render",
    "run_status",
    "to_json",
]
