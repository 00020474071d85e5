"""Work the event loop hands to the consumer thread, and what its sender awaits.

A command runs on the consumer thread (the only thread that may touch the Consumer); the loop
awaits its future. If the thread dies first, the command fails with `ConsumerDiedError` instead
of leaving its sender waiting for ever.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable


class ConsumerDiedError(Exception):
    """The consumer thread is gone: a command sent to it can never run."""


class Command:
    """Work for the consumer thread, and the future its sender awaits."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self.done = concurrent.futures.Future[None]()

    def run(self) -> None:
        try:
            self._work()
        finally:
            settle(self.done)

    def fail(self) -> None:
        if not self.done.done():
            self.done.set_exception(ConsumerDiedError("the consumer thread ended"))


def settle(future: concurrent.futures.Future[None]) -> None:
    # The awaiting side may have been cancelled (a shutdown deadline); that is not an error here.
    if not future.done():
        future.set_result(None)
