"""Getting CDR writes to the database without ever blocking call handling.

``CdrWriter.submit`` only appends to a bounded ``asyncio.Queue``; one task takes up
to ``batch_size`` writes (waiting at most ``batch_delay`` to fill a batch) and
commits them in one transaction.  When the database is unreachable, a write fails
(disk full, read-only file) or takes longer than ``write_timeout``, the batch goes to
a ``Journal``: an append-only JSON-lines file, fsync'd, next to the server's data.
Every ``retry_interval`` seconds the writer tries the database again; once it
answers, the journal is replayed before new writes.  Replays cannot duplicate:
stores keep the write with the highest ``seq`` per ``ref``.  If the queue is full
(the database is slow and calls keep ending), further writes spill to the journal
through a background thread and are replayed from there: a billing record is never
dropped for want of memory, and ``submit`` never waits on the disk unless even the
spill exceeds ``max_spill``.

``submit_durable`` is for the writes a caller must not be told about before
they are safe (a call's answer, before its 2xx is relayed): they are queued for
the database like any write and also appended to the *answer log*
(``cdr-answers.jsonl`` beside the journal, an :class:`AnswerLog`) in a group
commit: one write and one fsync of an open file for everything that arrived
while the previous one ran (a few milliseconds); the callback runs once they
are on disk.  The log is only read after a crash: at start its files go to the
journal (replayed without duplicates: the highest ``seq`` wins).  While the
server runs it is rotated every ``ANSWER_LOG_ROTATE`` seconds, and a rotated
file is deleted once every write queued before the rotation is in the
database or the journal (the queue is first in, first out; after a spill,
only once the writer has caught up completely).  A log that cannot be written
(disk full) leaves the writes to the queue and runs the callback anyway: the
call connects, and the failure is logged.

A database that is up but refuses a record (``RecordRejected``: a constraint, a value
out of range) is not an outage: the batch is split in halves until the refused
call's writes stand alone, those are tried ``reject_attempts`` times more, then moved
to a quarantine file (``cdr-quarantine.jsonl`` next to the journal, one JSON line per
write with the error and the time) and counted (``quarantined``); the other records of
the batch are written and the writer goes on.  The same holds for journal replays, so
one bad record can neither stall new writes nor pin the journal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import msgspec

from b2bua.billing.cdr import CdrWrite
from b2bua.billing.store import BillingStore, RecordRejected

log = logging.getLogger("b2bua.billing.writer")

BATCH_SIZE = 200  # writes per transaction
BATCH_DELAY = 0.05  # seconds a batch may wait to fill
MAX_QUEUE = 10_000  # writes waiting in memory for the database (about 1.5 kB each)
MAX_SPILL = 50_000  # writes beyond MAX_QUEUE waiting for the journal before submit() appends itself
RETRY_INTERVAL = 5.0  # seconds between attempts to reach the database again
IDLE_CHECK = 0.2  # seconds an idle writer waits before looking at the journal again
ANSWER_LOG = "cdr-answers.jsonl"
ANSWER_LOG_ROTATE = 5.0  # seconds between rotations of the answer log
REPLAY_ROUNDS = 8  # journal files replayed per look; more wait for the next one
WRITE_TIMEOUT = 5.0  # seconds a batch may take before it is journaled instead
REJECT_ATTEMPTS = 3  # tries of a refused call's writes, alone, before they are quarantined
QUARANTINE_FILE = "cdr-quarantine.jsonl"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CdrWrite)


class Quarantined(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the quarantine file: a write the database refused, and why."""

    at: float  # epoch seconds
    error: str
    write: CdrWrite


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it (and the directory entry if new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # make the new directory entry durable too
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class Journal:
    """Append-only, fsync'd JSON lines of CDR writes awaiting the database.

    ``take`` renames the file to ``*.replaying`` before reading it, so appends made
    during a replay go to a fresh file; ``done`` removes the replayed file.  A torn
    last line (a crash mid-append) is skipped with a warning.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.replaying = self.path.with_name(self.path.name + ".replaying")
        self._lock = threading.Lock()

    def append(self, writes: Sequence[CdrWrite]) -> None:
        data = b"".join(_encoder.encode(w) + b"\n" for w in writes)
        with self._lock:
            append_durably(self.path, data)

    def pending(self) -> bool:
        return self.replaying.exists() or self.path.exists()

    def size(self) -> int:
        """Bytes of writes waiting in the journal files (a stat each: cheap)."""
        total = 0
        for p in (self.path, self.replaying):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def take(self) -> list[CdrWrite]:
        """The writes to replay: an unfinished replay first, else the current file."""
        with self._lock:
            if not self.replaying.exists():
                if not self.path.exists():
                    return []
                os.replace(self.path, self.replaying)
            raw = self.replaying.read_bytes()
        writes: list[CdrWrite] = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                writes.append(_decoder.decode(line))
            except msgspec.DecodeError as err:
                log.warning("journal %s line %d unreadable, skipped: %s", self.replaying, n, err)
        return writes

    def done(self) -> None:
        with self._lock:
            self.replaying.unlink(missing_ok=True)


class AnswerLog:
    """The answer log (module docstring): appends to an open file, fsync'd; rotated
    files ``NAME.N`` wait for ``release``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._opened = 0.0  # time.monotonic() of the current file's creation
        self._serial = 0
        self.rotated: list[tuple[Path, int]] = []  # (file, writes queued before it closed)

    def append(self, writes: Sequence[CdrWrite]) -> None:
        """In a worker thread: the writes on disk when this returns."""
        data = b"".join(_encoder.encode(w) + b"\n" for w in writes)
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._opened = time.monotonic()
            dfd = os.open(self.path.parent, os.O_RDONLY)  # the new directory entry durable too
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fdatasync(self._fd)

    def rotate_due(self) -> bool:
        return self._fd is not None and time.monotonic() - self._opened >= ANSWER_LOG_ROTATE

    def rotate(self, queued: int) -> None:
        """Close the current file as ``NAME.N``; it may go once ``queued`` writes are safe."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        while True:
            self._serial += 1
            target = self.path.with_name(f"{self.path.name}.{self._serial}")
            if not target.exists():
                break
        os.replace(self.path, target)
        self.rotated.append((target, queued))

    def release(self, settled: int, caught_up: bool) -> None:
        """Delete the rotated files whose writes are all in the database or journal."""
        while self.rotated and (caught_up or self.rotated[0][1] <= settled):
            path, _ = self.rotated.pop(0)
            path.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """Every file of the log, current last (what a crash left)."""
        rotated = sorted(self.path.parent.glob(self.path.name + ".*"), key=lambda p: int(p.suffix[1:] or 0)
                         if p.suffix[1:].isdigit() else 0)
        return [p for p in rotated if p.suffix[1:].isdigit()] + ([self.path] if self.path.exists() else [])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class CdrWriter:
    """Batched, non-blocking CDR persistence with journal fallback (module docstring)."""

    def __init__(
        self, store: BillingStore, journal: Journal | str | Path, *,
        batch_size: int = BATCH_SIZE, batch_delay: float = BATCH_DELAY, max_queue: int = MAX_QUEUE,
        retry_interval: float = RETRY_INTERVAL, write_timeout: float = WRITE_TIMEOUT, max_spill: int = MAX_SPILL,
        reject_attempts: int = REJECT_ATTEMPTS, quarantine: str | Path | None = None,
    ) -> None:
        self.store = store
        self.journal = journal if isinstance(journal, Journal) else Journal(journal)
        self.quarantine = Path(quarantine) if quarantine is not None else self.journal.path.with_name(QUARANTINE_FILE)
        self.reject_attempts = reject_attempts
        self.batch_size = batch_size
        self.batch_delay = batch_delay
        self.retry_interval = retry_interval
        self.write_timeout = write_timeout
        self.max_spill = max_spill
        self._queue: asyncio.Queue[CdrWrite] = asyncio.Queue(max_queue)
        self._spill: list[CdrWrite] = []  # writes beyond max_queue, on their way to the journal
        self._spill_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.db_up = False
        self._next_retry = 0.0  # loop time of the next attempt while the database is down
        self._journal_dirty = False  # journaled while the database was up (queue overflow, durable writes)
        self._durable: list[CdrWrite] = []  # submit_durable: waiting for the next group commit
        self._durable_done: list[Callable[[], None]] = []
        self._durable_task: asyncio.Task[None] | None = None
        self.answers = AnswerLog(self.journal.path.with_name(ANSWER_LOG))
        self.queued = 0  # writes queued so far (FIFO: those settled are the first ones)
        self.settled = 0  # writes of the queue now in the database or the journal
        self._spilled_since = False  # a spill broke the queue's order since the last catch-up
        self.counters = {
            "written": 0, "journaled": 0, "replayed": 0, "overflowed": 0, "batches": 0, "quarantined": 0,
            "durable": 0, "durable_commits": 0,
        }

    async def start(self) -> None:
        """Move what an earlier run's answer log holds to the journal, open the store
        if needed and replay the journal; never raises for the database."""
        await asyncio.to_thread(self._answers_to_journal)
        await self._reconnect()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cdr-writer")

    def _answers_to_journal(self) -> None:
        """At start: an earlier run's answers (a crash, or a clean stop) to the journal."""
        for path in self.answers.files():
            writes = []
            for n, line in enumerate(path.read_bytes().splitlines(), 1):
                try:
                    writes.append(_decoder.decode(line))
                except msgspec.DecodeError as err:  # a torn last line: the crash came mid-append
                    log.warning("answer log %s line %d unreadable, skipped: %s", path, n, err)
            if writes:
                self.journal.append(writes)
            path.unlink()

    def submit(self, writes: Iterable[CdrWrite]) -> None:
        """Queue writes; never waits.  Beyond ``max_queue`` they spill to the journal
        from a background thread; only beyond ``max_spill`` does this append in place."""
        spilled = 0
        for w in writes:
            try:
                self._queue.put_nowait(w)
                self.queued += 1
            except asyncio.QueueFull:
                self._spill.append(w)
                spilled += 1
        if not spilled:
            return
        self._spilled_since = True
        self.counters["overflowed"] += spilled
        if len(self._spill) > self.max_spill:  # the disk cannot keep up either: last resort
            spill, self._spill = self._spill, []
            self._to_journal_sync(spill)
        elif self._spill_task is None or self._spill_task.done():
            self._spill_task = asyncio.get_running_loop().create_task(self._journal_spill())

    def submit_durable(self, writes: Sequence[CdrWrite], on_durable: Callable[[], None]) -> None:
        """Queue ``writes`` and make them durable in the answer log, then call
        ``on_durable`` (on the loop); never waits."""
        self.submit(writes)
        self._durable.extend(writes)
        self._durable_done.append(on_durable)
        if self._durable_task is None or self._durable_task.done():
            self._durable_task = asyncio.get_running_loop().create_task(self._commit_durable())

    async def _commit_durable(self) -> None:
        """Group commit: everything that arrived while the last append ran, in one."""
        while self._durable_done:
            writes, self._durable = self._durable, []
            done, self._durable_done = self._durable_done, []
            try:
                if writes:
                    if self.answers.rotate_due():
                        self.answers.rotate(self.queued)
                    caught_up = self._caught_up()
                    self.answers.release(-1 if self._spilled_since else self.settled, caught_up=caught_up)
                    await asyncio.to_thread(self.answers.append, writes)
                    self.counters["durable"] += len(writes)
                    self.counters["durable_commits"] += 1
            except OSError:
                log.critical("cannot write %d answers to %s; they wait in the queue (not yet durable)",
                             len(writes), self.answers.path, exc_info=True)
            for callback in done:
                try:
                    callback()
                except Exception:
                    log.exception("internal error after a durable CDR write")

    async def _journal_spill(self) -> None:
        while self._spill:
            spill, self._spill = self._spill, []
            await self._to_journal(spill)

    def journal_bytes(self) -> int:
        return self.journal.size()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until every submitted write is in the database or the journal."""
        if self._durable_task is not None:
            await asyncio.shield(self._durable_task)
        await self._queue.join()
        while self._journal_dirty and self.db_up and self._task is not None:
            await asyncio.sleep(self.batch_delay)  # the task replays the journal (durable writes)
        if self._spill_task is not None:
            await asyncio.shield(self._spill_task)  # a timed-out flush must not cancel it

    async def stop(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout``), stop the task, journal whatever is left."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning("CDR writer: %d writes not flushed in %.1f s, journaling them", self.pending, timeout)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._spill_task is not None:
            await self._spill_task
        if self._durable_task is not None:
            await self._durable_task
        left: list[CdrWrite] = list(self._spill)  # (durable writes are queued too)
        self._spill, self._durable = [], []
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
            self._queue.task_done()
        if left:
            self._to_journal_sync(left)
        # every write is in the database or the journal now: the answer log is moot
        self.answers.close()
        for path in self.answers.files():
            path.unlink(missing_ok=True)
        self.answers.rotated.clear()

    def _caught_up(self) -> bool:
        """Is every write submitted so far in the database or the journal?"""
        done = self.settled == self.queued and not self._spill and (
            self._spill_task is None or self._spill_task.done())
        if done:
            self._spilled_since = False
        return done

    # -- the task --------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # retry the database, or replay what was journaled, also without traffic
            try:
                wait = (IDLE_CHECK if not self._journal_dirty else self.batch_delay) if self.db_up else self.retry_interval
                first = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                if self._journal_dirty or not self.db_up:
                    await self._reconnect()
                continue
            batch = [first]
            self._drain(batch)
            if len(batch) < self.batch_size and self.batch_delay > 0:
                await asyncio.sleep(self.batch_delay)
                self._drain(batch)
            try:
                await self._write(batch, loop.time())
            except asyncio.CancelledError:  # stopped mid-write: keep the batch (replays are harmless)
                self._to_journal_sync(batch)
                raise
            finally:
                for _ in batch:
                    self._queue.task_done()
                self.settled += len(batch)  # in the database, or the journal

    def _drain(self, batch: list[CdrWrite]) -> None:
        while len(batch) < self.batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _write(self, batch: list[CdrWrite], now: float) -> None:
        if self._journal_dirty if self.db_up else now >= self._next_retry:
            await self._reconnect()
        if self.db_up:
            try:
                self.counters["written"] += await self._apply(batch)
                self.counters["batches"] += 1
                return
            except Exception as err:  # the database failed, not a record: the journal keeps them
                self._down(f"write failed: {err!r}")
        await self._to_journal(batch)

    async def _apply(self, writes: list[CdrWrite]) -> int:
        """Store ``writes``, quarantining the calls whose writes the database refuses;
        returns how many were stored.  Raises when the database itself fails."""
        try:
            await asyncio.wait_for(self.store.apply(writes), self.write_timeout)
            return len(writes)
        except RecordRejected as err:
            calls: dict[str, list[CdrWrite]] = {}
            for w in writes:  # a call's writes stay together: the store keeps its highest seq
                calls.setdefault(w.cdr.ref, []).append(w)
            return await self._isolate(list(calls.values()), err, tried=1)

    async def _isolate(self, calls: list[list[CdrWrite]], err: RecordRejected, tried: int) -> int:
        """Halve a refused batch until the refused call stands alone (log2 n transactions);
        ``tried``: attempts already made with exactly these calls."""
        if len(calls) == 1:
            for _ in range(tried, self.reject_attempts):
                try:
                    await asyncio.wait_for(self.store.apply(calls[0]), self.write_timeout)
                    return len(calls[0])
                except RecordRejected as again:
                    err = again
            await self._quarantine(calls[0], err)
            return 0
        stored = 0
        mid = len(calls) // 2
        for half in (calls[:mid], calls[mid:]):
            flat = [w for call in half for w in call]
            try:
                await asyncio.wait_for(self.store.apply(flat), self.write_timeout)
                stored += len(flat)
            except RecordRejected as again:
                stored += await self._isolate(half, again, tried=1)
        return stored

    async def _quarantine(self, writes: list[CdrWrite], err: Exception) -> None:
        at = time.time()
        data = b"".join(_encoder.encode(Quarantined(at=at, error=str(err), write=w)) + b"\n" for w in writes)
        log.error("billing database refuses the record of call %s (%s); %d writes moved to %s",
                  writes[0].cdr.ref, err, len(writes), self.quarantine)
        try:
            await asyncio.to_thread(append_durably, self.quarantine, data)
            self.counters["quarantined"] += len(writes)
        except OSError:
            log.critical("cannot quarantine %d CDR writes to %s; they are lost", len(writes), self.quarantine,
                         exc_info=True)

    def _down(self, why: str) -> None:
        if self.db_up:
            log.error("billing database unavailable (%s); journaling CDRs to %s", why, self.journal.path)
        self.db_up = False
        self._next_retry = asyncio.get_running_loop().time() + self.retry_interval

    async def _reconnect(self) -> None:
        """Open the store if needed, then replay the journal; marks the database up."""
        self._journal_dirty = False
        try:
            if not self.store.is_open:
                await asyncio.wait_for(self.store.open(), self.write_timeout)
            for _ in range(REPLAY_ROUNDS):  # bounded: durable writes keep appending
                if not await asyncio.to_thread(self.journal.pending):
                    break
                writes = await asyncio.to_thread(self.journal.take)
                stored = 0
                for i in range(0, len(writes), self.batch_size):
                    stored += await self._apply(writes[i:i + self.batch_size])
                await asyncio.to_thread(self.journal.done)
                self.counters["replayed"] += stored
                if writes and not self.db_up:
                    log.info("replayed %d journaled CDR writes", len(writes))
            else:
                self._journal_dirty = True  # more to replay: the next look goes on
        except Exception as err:
            self._down(f"{err!r}")
            return
        if not self.db_up:
            log.info("billing database available")
        self.db_up = True

    async def _to_journal(self, batch: list[CdrWrite]) -> None:
        try:
            await asyncio.to_thread(self.journal.append, batch)
            self.counters["journaled"] += len(batch)
            self._journal_dirty = True
        except OSError:
            log.critical("cannot journal %d CDR writes to %s; they are lost", len(batch), self.journal.path, exc_info=True)

    def _to_journal_sync(self, writes: list[CdrWrite]) -> None:
        try:
            self.journal.append(writes)
            self.counters["journaled"] += len(writes)
            self._journal_dirty = True
        except OSError:
            log.critical("cannot journal %d CDR writes to %s; they are lost", len(writes), self.journal.path, exc_info=True)
