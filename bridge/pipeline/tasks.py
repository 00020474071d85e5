"""A pipeline's background tasks (dead-letter and outcome writes): named, tracked, and loud.

A task that fails fails the pipeline: `failure()` returns (raising its error) as soon as one
does, so the runner stops instead of waiting for a record that can never be done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Tasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and not self._failed.done():
            self._failed.set_exception(error)

    async def failure(self) -> None:
        """Wait until a task fails, then raise its error."""
        await asyncio.shield(self._failed)

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self._failed.done():
            self._failed.cancel()
        else:
            self._failed.exception()  # retrieved: the runner has reported it
