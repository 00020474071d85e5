"""`bridge replay`: send dead letters again to the vendor they failed at.

A letter goes through the live pipeline's own parts, never through copies of them: `Intake`
decodes and maps it (the schema registry, consent and the ``on_unmappable`` policy included),
`Sender` sends it with the vendor's rate limit, retries and circuit, `DeadLetterWriter` and
`OutcomeWriter` report what became of it. Letters are sent one batch at a time, in order.

The package, one job a module:
- `letters`: a dead letter's headers and its original record;
- `selection`: which letters (`Selection`, `Options`) and the command line that gives them;
- `reader`: the dead-letter topic read to its end, the replay group's progress, the markers;
- `admission`: a letter decoded and mapped by the live pipeline's `Intake`;
- `sending`: batches sent and settled (replayed, refused again, skipped), offsets committed;
- `summary`: the counts, the progress bar and the exit status;
- `run`: one run or dry run, from the configuration to the summary.
"""

from bridge.commands.replay.admission import Admission, admit
from bridge.commands.replay.letters import (
    REPLAY_AT_HEADER,
    REPLAY_OF_HEADER,
    REPLAYED_HEADER,
    Letter,
)
from bridge.commands.replay.reader import (
    READ_BATCH,
    READ_TIMEOUT_S,
    DeadLetterReader,
    replay_group,
    settled_letters,
)
from bridge.commands.replay.run import build, replay, run_replay
from bridge.commands.replay.selection import (
    Options,
    Selection,
    configure_parser,
    options_from,
    parse_time,
)
from bridge.commands.replay.summary import (
    EXIT_INTERRUPTED,
    EXIT_NOT_ALL,
    EXIT_OK,
    Progress,
    Summary,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ALL",
    "EXIT_OK",
    "READ_BATCH",
    "READ_TIMEOUT_S",
    "REPLAYED_HEADER",
    "REPLAY_AT_HEADER",
    "REPLAY_OF_HEADER",
    "Admission",
    "DeadLetterReader",
    "Letter",
    "Options",
    "Progress",
    "Selection",
    "Summary",
    "admit",
    "build",
    "configure_parser",
    "options_from",
    "parse_time",
    "replay",
    "replay_group",
    "run_replay",
    "settled_letters",
]
