"""A heap of deadlines for the call layer (pure: ``now`` is always given).

``schedule`` returns a handle; ``cancel`` marks it dead (lazy deletion), so
cancelling is O(1).  Cancelled entries are counted, and when they make up
more than half of the heap (and the heap is not tiny) it is rebuilt with the
live ones only: an ended call's long timers (maximum duration, session
refreshes) do not stay queued for hours, and the heap never holds more than
about twice the live timers.  Each entry is rebuilt at most once per
cancellation, so compaction costs O(1) amortized.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

COMPACT_MIN = 64  # a heap smaller than this is never rebuilt


class Timer:
    __slots__ = ("at", "fn", "args", "alive", "owner")

    def __init__(self, at: float, fn: Callable[..., None], args: tuple[Any, ...], owner: "Timers") -> None:
        self.at = at
        self.fn = fn
        self.args = args
        self.alive = True
        self.owner: Timers | None = owner

    def cancel(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.fn = _dead  # drop references to the call so nothing is kept alive
        self.args = ()
        owner, self.owner = self.owner, None
        if owner is not None:
            owner._cancelled(self)


def _dead(*_: Any) -> None:
    pass


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._dead = 0  # cancelled entries still in the heap

    def schedule(self, at: float, fn: Callable[..., None], *args: Any) -> Timer:
        t = Timer(at, fn, args, self)
        heapq.heappush(self._heap, (at, next(self._seq), t))
        return t

    def _cancelled(self, _: Timer) -> None:
        self._dead += 1
        heap = self._heap
        if self._dead * 2 > len(heap) and len(heap) >= COMPACT_MIN:
            heap[:] = [e for e in heap if e[2].alive]
            heapq.heapify(heap)
            self._dead = 0

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].alive:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def run(self, now: float) -> int:
        """Fire every live timer due at ``now`` as ``fn(now, *args)``; return how many fired."""
        heap = self._heap
        fired = 0
        while heap and heap[0][0] <= now:
            _, _, t = heapq.heappop(heap)
            if t.alive:
                t.alive = False
                t.owner = None
                fn, args = t.fn, t.args
                t.fn, t.args = _dead, ()
                fn(now, *args)
                fired += 1
            else:
                self._dead -= 1
        return fired

    @property
    def queued(self) -> int:
        """Entries in the heap, live or cancelled (for tests and status)."""
        return len(self._heap)

    def __len__(self) -> int:
        return len(self._heap) - self._dead
