"""A letter through the live pipeline's own `Intake`, for records that are not in a partition:
decoded and mapped as the live pipeline does (schema registry, consent, ``on_unmappable``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.commands.replay.letters import Letter
from bridge.pipeline.intake import Intake
from bridge.records import Record


@dataclass(slots=True)
class Admission:
    """What `Intake` made of one letter."""

    record: Record
    ready: bool = False
    skipped: str | None = None
    dead: tuple[str, str, str] | None = None
    """(error class, message, reason)"""


async def admit(intake: Intake, letter: Letter) -> Admission:
    """Decode and map the letter's original record as the live pipeline does."""
    admitted = await intake.admit(letter.record())
    if admitted.ready:
        admission = Admission(admitted.ready[0], ready=True)
    elif admitted.skipped:
        record, reason = admitted.skipped[0]
        admission = Admission(record, skipped=reason)
    elif admitted.dead:
        record, error_class, message, reason = admitted.dead[0]
        admission = Admission(record, dead=(error_class, message, reason))
    else:
        raise RuntimeError("intake returned nothing for a replayed record")
    return admission
