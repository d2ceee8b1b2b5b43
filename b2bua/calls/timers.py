"""A heap of deadlines for the call layer (pure: ``now`` is always given).

``schedule`` returns a handle; ``cancel`` marks it dead (lazy deletion), so
cancelling is O(1) and the heap never holds more than the live timers plus
the cancelled ones not yet popped.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable


class Timer:
    __slots__ = ("at", "fn", "args", "alive")

    def __init__(self, at: float, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.at = at
        self.fn = fn
        self.args = args
        self.alive = True

    def cancel(self) -> None:
        self.alive = False
        self.fn = _dead  # drop references to the call so nothing is kept alive
        self.args = ()


def _dead(*_: Any) -> None:
    pass


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self.live = 0

    def schedule(self, at: float, fn: Callable[..., None], *args: Any) -> Timer:
        t = Timer(at, fn, args)
        heapq.heappush(self._heap, (at, next(self._seq), t))
        return t

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].alive:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run(self, now: float) -> int:
        """Fire every live timer due at ``now`` as ``fn(now, *args)``; return how many fired."""
        heap = self._heap
        fired = 0
        while heap and heap[0][0] <= now:
            _, _, t = heapq.heappop(heap)
            if t.alive:
                t.alive = False
                fn, args = t.fn, t.args
                t.fn, t.args = _dead, ()
                fn(now, *args)
                fired += 1
        return fired

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if t.alive)
