"""The CDR writer on both backends: batching, journal fallback while the database is
unreachable or failing, replay without duplicates, and a real kill -9."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import pytest

from b2bua.billing.cdr import CdrBuilder, CdrWrite, call_billing
from b2bua.billing.rating import Rate, RatePlan
from b2bua.billing.backends import open_billing_store
from b2bua.billing.postgres import quote_ident
from b2bua.billing.sqlite import sqlite_path
from b2bua.billing.store import BillingStore, RecordRejected
from b2bua.billing.writer import ANSWER_LOG, QUARANTINE_FILE, AnswerLog, CdrWriter, Journal, Quarantined
from b2bua.calls.events import CalleeAnswered, CallEnded, CallStarted

from .conftest import Backend

WALL = 1_700_000_000.0
PLAN = RatePlan(name="std", currency="EUR", rates=(Rate(prefix="4", price_per_minute=Decimal("0.60")),))


def calls(n: int, *, node: str = "", first: int = 0) -> list[CdrWrite]:
    """n answered calls of 30 s: opened, answered (interim), closed."""
    b = CdrBuilder(wall_offset=WALL, node=node)
    out: list[CdrWrite] = []
    for i in range(first, first + n):
        ref = f"call-{i}"
        out += b.handle(
            CallStarted(ref=ref, at=i, caller="1001", caller_user="1001", dialed="94", destination="4",
                        route="trunk:carrier", a_call_id=ref, source="udp:1.2.3.4:5060"),
            call_billing(PLAN, "4", "international", account_code="42", code_valid=True, code_source="assigned"),
        )
        out += b.handle(CalleeAnswered(ref=ref, at=i + 1, b_call_id="b"))
        out += b.handle(CallEnded(ref=ref, at=i + 31, status=200, cause="caller hung up", hangup="caller"))
    return out


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def assert_all_closed_once(store: BillingStore, n: int) -> None:
    rows = await store.query(include_open=True)
    assert len(rows) == n == len({r.ref for r in rows})
    assert all(r.end is not None and r.cost == Decimal("0.30") for r in rows)


async def test_batches_and_flush(store: BillingStore, tmp_path: Path) -> None:
    writer = CdrWriter(store, tmp_path / "journal.jsonl", batch_size=200, batch_delay=0.01)
    await writer.start()
    writer.submit(calls(300))  # 900 writes
    await writer.flush()
    assert writer.counters["written"] == 900 and writer.counters["batches"] >= 5
    assert writer.counters["journaled"] == 0 and not writer.journal.pending()
    await writer.stop()
    await assert_all_closed_once(store, 300)


class Outage:
    """A backend that is unreachable until ``restore()``: SQLite under a path whose
    parent is a regular file; PostgreSQL behind a TCP relay on a port nobody listens on."""

    def __init__(self, backend: Backend, tmp_path: Path) -> None:
        self.backend = backend
        self._server: asyncio.base_events.Server | None = None
        self._conns: list[asyncio.StreamWriter] = []
        if backend.name == "sqlite":
            self.blocker = tmp_path / "not-a-directory"
            self.blocker.write_text("")
            self.url = str(self.blocker / "billing.sqlite3")
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            parts = urlsplit(backend.url)
            self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
            netloc = f"{parts.username}@127.0.0.1:{self.port}" if parts.username else f"127.0.0.1:{self.port}"
            self.url = urlunsplit(parts._replace(netloc=netloc))

    def store(self) -> BillingStore:
        return open_billing_store(self.url, **self.backend.options)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.target)
        self._conns += [writer, up_w]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    async def restore(self) -> None:
        if self.backend.name == "sqlite":
            self.blocker.unlink()
        else:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """PostgreSQL only: stop relaying and drop the connections (the server 'dies')."""
        assert self._server is not None
        self._server.close()
        for w in self._conns:
            w.transport.abort()
        self._conns.clear()
        await self._server.wait_closed()
        self._server = None


async def test_unreachable_database_journals_then_replays_once(backend: Backend, tmp_path: Path) -> None:
    outage = Outage(backend, tmp_path)
    store = outage.store()
    journal = tmp_path / "journal" / "cdr.jsonl"
    writer = CdrWriter(store, journal, batch_delay=0.005, retry_interval=0.05, write_timeout=2)
    await writer.start()  # the database cannot be opened: start anyway
    assert not writer.db_up
    writes = calls(40)
    writer.submit(writes)
    writer.submit(writes[:30])  # duplicates, as a retrying caller might produce
    await writer.flush()
    assert writer.counters["journaled"] == 150 and Journal(journal).pending()
    assert len(journal.read_text().splitlines()) == 150

    await outage.restore()
    await until(lambda: writer.db_up and not writer.journal.pending())
    assert writer.counters["replayed"] == 150
    await assert_all_closed_once(store, 40)
    writer.submit(writes)  # replaying everything again changes nothing
    await writer.flush()
    await assert_all_closed_once(store, 40)
    await writer.stop()
    await store.close()
    if backend.name == "postgresql":
        await outage.cut()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite: see the failing-store test
async def test_database_lost_mid_run_and_back(backend: Backend, tmp_path: Path) -> None:
    outage = Outage(backend, tmp_path)
    await outage.restore()
    store = outage.store()
    writer = CdrWriter(store, tmp_path / "cdr.jsonl", batch_delay=0.005, retry_interval=0.05, write_timeout=2)
    await writer.start()
    assert writer.db_up
    writer.submit(calls(10))
    await writer.flush()
    await outage.cut()
    writer.submit(calls(10, first=10))
    await writer.flush()
    assert not writer.db_up and writer.counters["journaled"] == 30
    await outage.restore()
    await until(lambda: writer.db_up and not writer.journal.pending())
    await assert_all_closed_once(store, 20)
    await writer.stop()
    await store.close()
    await outage.cut()


class FailingStore:
    """Wraps a store; ``apply`` raises like a full disk while ``failing`` is set."""

    def __init__(self, inner: BillingStore) -> None:
        self.inner = inner
        self.failing = False
        self.applied = 0

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    async def open(self) -> None:
        await self.inner.open()

    async def apply(self, writes: Sequence[CdrWrite]) -> None:
        if self.failing:
            raise OSError(28, "No space left on device")
        self.applied += 1
        await self.inner.apply(writes)


async def test_failing_writes_go_to_the_journal_and_come_back(store: BillingStore, tmp_path: Path) -> None:
    flaky = FailingStore(store)
    writer = CdrWriter(flaky, tmp_path / "cdr.jsonl", batch_delay=0.005, retry_interval=0.05)  # type: ignore[arg-type]
    await writer.start()
    writes = calls(20)
    writer.submit(writes[:30])
    await writer.flush()
    flaky.failing = True
    writer.submit(writes[30:])
    await writer.flush()
    assert not writer.db_up and writer.counters["journaled"] == 30
    writer.submit(writes[:30])  # older writes arrive while failing: journaled too, and harmless
    await writer.flush()
    flaky.failing = False
    await until(lambda: writer.db_up and not writer.journal.pending())
    await assert_all_closed_once(store, 20)
    await writer.stop()


async def test_full_queue_journals_instead_of_blocking(store: BillingStore, tmp_path: Path) -> None:
    writer = CdrWriter(store, tmp_path / "cdr.jsonl", max_queue=5, batch_delay=0.005)
    await writer.start()
    writer.submit(calls(10))  # 30 writes at once, no await in between
    assert writer.counters["overflowed"] == 25
    await writer.flush()
    writer.submit(calls(1, first=99))  # the next batch replays the overflow first
    await writer.flush()
    await until(lambda: not writer.journal.pending())
    rows = await store.query()
    assert len(rows) == 11
    await writer.stop()


async def test_spill_beyond_its_limit_is_journaled_in_place(store: BillingStore, tmp_path: Path) -> None:
    writer = CdrWriter(store, tmp_path / "cdr.jsonl", max_queue=5, max_spill=3, batch_delay=0.005)
    await writer.start()
    writer.submit(calls(10))
    assert writer.journal.path.exists()  # written before submit() returned: nothing held in memory
    await writer.flush()
    await until(lambda: not writer.journal.pending())
    await assert_all_closed_once(store, 10)
    await writer.stop()


async def refuse(backend: Backend, ref: str) -> None:
    """Make the database refuse the record of one call, as a constraint would."""
    if backend.name == "sqlite":
        db = sqlite3.connect(sqlite_path(backend.url))
        db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON cdr WHEN NEW.ref = '{ref}' "
                   "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END")
        db.close()
        return
    con = await asyncpg.connect(backend.url)
    try:
        await con.execute(f"ALTER TABLE {quote_ident(backend.options['schema'])}.cdr "
                          f"ADD CONSTRAINT refuse CHECK (ref <> '{ref}')")
    finally:
        await con.close()


def out_of_range(writes: list[CdrWrite], ref: str) -> list[CdrWrite]:
    """The call's writes with a status no INTEGER column holds (a type/range error)."""
    return [type(w)(msgspec.structs.replace(w.cdr, status=2**70)) if w.cdr.ref == ref else w for w in writes]


def quarantined(path: Path) -> list[Quarantined]:
    return [msgspec.json.decode(line, type=Quarantined) for line in (path / QUARANTINE_FILE).read_bytes().splitlines()]


@pytest.mark.parametrize("how", ["constraint", "out of range"])
async def test_a_refused_record_is_quarantined_and_the_rest_written(
    backend: Backend, store: BillingStore, tmp_path: Path, how: str,
) -> None:
    writes = calls(10)  # 30 writes, one batch
    if how == "constraint":
        await refuse(backend, "call-3")
    else:
        writes = out_of_range(writes, "call-3")
    writer = CdrWriter(store, tmp_path / "cdr-journal.jsonl", batch_delay=0.005)
    await writer.start()
    writer.submit(writes)
    await writer.flush()
    assert writer.db_up and not writer.journal.pending()
    assert writer.counters["quarantined"] == 3 and writer.counters["written"] == 27
    assert writer.counters["journaled"] == 0
    rows = await store.query(include_open=True)
    assert sorted(r.ref for r in rows) == sorted(f"call-{i}" for i in range(10) if i != 3)
    bad = quarantined(tmp_path)
    assert [q.write for q in bad] == [w for w in writes if w.cdr.ref == "call-3"]
    assert all(re.search("refuse" if how == "constraint" else "too large|out of .*range", q.error) for q in bad)
    writer.submit(calls(2, first=20))  # the writer goes on
    await writer.flush()
    assert writer.counters["written"] == 33 and writer.counters["quarantined"] == 3
    await writer.stop()


async def test_a_refused_record_in_the_journal_does_not_pin_it(backend: Backend, store: BillingStore, tmp_path: Path) -> None:
    flaky = FailingStore(store)
    writer = CdrWriter(flaky, tmp_path / "cdr-journal.jsonl", batch_delay=0.005, retry_interval=0.05)  # type: ignore[arg-type]
    await writer.start()
    flaky.failing = True  # the database is down: everything is journaled
    writer.submit(calls(6))
    await writer.flush()
    assert not writer.db_up and writer.counters["journaled"] == 18
    await refuse(backend, "call-4")
    flaky.failing = False
    await until(lambda: writer.db_up and not writer.journal.pending())
    assert writer.counters["replayed"] == 15 and writer.counters["quarantined"] == 3
    assert {q.write.cdr.ref for q in quarantined(tmp_path)} == {"call-4"}
    assert len(await store.query()) == 5
    await writer.stop()


class RefusingStore(FailingStore):
    """Refuses any batch holding ``ref`` with other calls, and ``ref`` alone the first
    ``refusals`` times."""

    def __init__(self, inner: BillingStore, ref: str, refusals: int) -> None:
        super().__init__(inner)
        self.ref = ref
        self.refusals = refusals
        self.alone = 0  # attempts with the refused call alone

    async def apply(self, writes: Sequence[CdrWrite]) -> None:
        refs = {w.cdr.ref for w in writes}
        if refs == {self.ref}:
            self.alone += 1
            if self.refusals:
                self.refusals -= 1
                raise RecordRejected("value too long")
        elif self.ref in refs:
            raise RecordRejected("value too long")
        await super().apply(writes)


@pytest.mark.parametrize(("refusals", "stored"), [(2, True), (3, False)])
async def test_a_refused_record_is_retried_alone_before_quarantine(
    store: BillingStore, tmp_path: Path, refusals: int, stored: bool,
) -> None:
    picky = RefusingStore(store, "call-5", refusals)
    writer = CdrWriter(picky, tmp_path / "cdr.jsonl", batch_delay=0.005, reject_attempts=3)  # type: ignore[arg-type]
    await writer.start()
    writer.submit(calls(8))
    await writer.flush()
    assert picky.alone == 3  # halved down to call-5, which is then tried alone three times
    assert writer.counters["quarantined"] == (0 if stored else 3)
    assert (await store.get("call-5") is not None) == stored
    assert len(await store.query()) == 7 + stored
    await writer.stop()


def test_journal_skips_a_torn_last_line(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    writes = calls(2)
    j.append(writes)
    with open(j.path, "ab") as f:
        f.write(b'{"type":"CdrClosed","cdr":{"ref":"x",')  # killed mid-append
    got = j.take()
    assert got == writes and not j.path.exists() and j.replaying.exists()
    j.append(calls(1, first=5))  # appends during a replay go to a fresh file
    assert j.take() == writes  # an unfinished replay comes first
    j.done()
    assert len(j.take()) == 3 and j.pending()
    j.done()
    assert not j.pending() and j.take() == []


CHILD = """
import asyncio, sys
from decimal import Decimal
from b2bua.billing.cdr import CdrBuilder, call_billing
from b2bua.billing.rating import Rate, RatePlan
from b2bua.billing.backends import open_billing_store
from b2bua.billing.writer import CdrWriter
from b2bua.calls.events import CalleeAnswered, CallStarted

async def main(url, schema, journal):
    store = open_billing_store(url, **({"schema": schema} if schema else {}))
    writer = CdrWriter(store, journal, batch_delay=0.001)
    await writer.start()
    plan = RatePlan(name="std", currency="EUR", rates=(Rate(prefix="4", price_per_minute=Decimal("0.60")),))
    b = CdrBuilder(wall_offset=1_700_000_000.0, node="pbx1", interim_interval=60)
    for ref, answered in (("talking", True), ("ringing", False)):
        writer.submit(b.handle(
            CallStarted(ref=ref, at=0.0, caller="1001", caller_user="1001", dialed="94", destination="4",
                        route="trunk:carrier", a_call_id=ref, source="udp:1.2.3.4:5060"),
            call_billing(plan, "4", "international", account_code="42", code_valid=True, code_source="prompt"),
        ))
    writer.submit(b.handle(CalleeAnswered(ref="talking", at=5.0, b_call_id="b")))
    writer.submit(b.handle_timer(65.0))
    writer.submit(b.handle_timer(125.0))
    await writer.flush()
    print("flushed", flush=True)
    await asyncio.sleep(3600)  # killed with SIGKILL while the calls are up

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


async def test_kill_9_leaves_records_that_recovery_closes(backend: Backend, store: BillingStore, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, backend.url, backend.options.get("schema", ""), str(tmp_path / "j.jsonl"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line == b"flushed\n"
    os.kill(proc.pid, signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL
    assert sorted(c.ref for c in await store.open_records("pbx1")) == ["ringing", "talking"]

    recovered = await store.recover_open_records(WALL + 10_000, node="pbx1")
    assert sorted(c.ref for c in recovered) == ["ringing", "talking"]
    talking = await store.get("talking")
    assert talking.recovered and talking.end == WALL + 125.0 and talking.duration == 120.0
    assert talking.cost == Decimal("1.20") and talking.hangup == "server"
    assert (await store.get("ringing")).recovered
    assert await store.open_records() == []


async def test_durable_writes_are_on_disk_before_the_callback(store: BillingStore, tmp_path: Path) -> None:
    """submit_durable: the callback runs once the writes are in the fsync'd answer
    log; they reach the database through the queue as usual, each record once."""
    writer = CdrWriter(store, tmp_path / "journal.jsonl", batch_delay=0.01)
    await writer.start()
    writes = calls(3)  # opened, answered, closed per call
    answered = [w for w in writes if w.cdr.answer is not None and w.cdr.end is None]

    def on_disk() -> int:  # answers in the log: what a crash right now would leave
        return sum(len(p.read_bytes().splitlines()) for p in writer.answers.files())

    counts: list[int] = []
    for w in answered:
        writer.submit_durable([w], lambda: counts.append(on_disk()))
    await until(lambda: len(counts) == 3)
    assert counts[-1] == 3 and all(n >= 1 for n in counts)  # every callback found its write on disk
    assert writer.counters["durable"] == 3 and 1 <= writer.counters["durable_commits"] <= 3
    await writer.flush()
    rows = await store.query(include_open=True)
    assert sorted(r.ref for r in rows) == ["call-0", "call-1", "call-2"]
    assert all(r.answer is not None and r.end is None for r in rows)
    writer.submit([w for w in writes if w.cdr.end is not None])
    await writer.stop()
    await assert_all_closed_once(store, 3)
    assert writer.answers.files() == [] and not writer.journal.pending()  # a clean stop leaves nothing


async def test_answers_of_a_crashed_run_are_written_at_the_next_start(store: BillingStore, tmp_path: Path) -> None:
    """The answer log left by a crash (the database never got them) goes to the
    journal at start and is replayed; a torn last line is skipped."""
    log_path = tmp_path / ANSWER_LOG
    answered = [w for w in calls(2) if w.cdr.answer is not None and w.cdr.end is None]
    crashed = AnswerLog(log_path)
    crashed.append(answered[:1])
    crashed.rotate(queued=1)
    crashed.append(answered[1:])
    crashed.close()
    with open(log_path, "ab") as f:
        f.write(b'{"type":"CdrInterim","cdr":{"ref":"torn')  # killed mid-append
    writer = CdrWriter(store, tmp_path / "journal.jsonl", batch_delay=0.01)
    await writer.start()
    await writer.stop()
    rows = await store.query(include_open=True)
    assert sorted(r.ref for r in rows) == ["call-0", "call-1"] and all(r.answer is not None for r in rows)
    assert writer.answers.files() == []


async def test_the_answer_log_is_rotated_and_released(
    store: BillingStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotated files go once every write queued before them is in the database."""
    import b2bua.billing.writer as writer_module

    monkeypatch.setattr(writer_module, "ANSWER_LOG_ROTATE", 0.0)  # rotate at every commit
    writer = CdrWriter(store, tmp_path / "journal.jsonl", batch_delay=0.01)
    await writer.start()
    answered = [w for w in calls(20) if w.cdr.answer is not None and w.cdr.end is None]
    done: list[int] = []
    for i, w in enumerate(answered):
        writer.submit_durable([w], lambda: done.append(1))
        await until(lambda: len(done) == i + 1)
        await writer.flush()  # the database has everything queued so far
    # each commit rotated the previous file and released those the database had
    assert len(writer.answers.files()) <= 2 and writer.settled == writer.queued == 20
    await writer.stop()
    assert writer.answers.files() == []


async def test_durable_writes_group_commit(store: BillingStore, tmp_path: Path) -> None:
    """Writes that arrive while an append runs share the next one."""
    writer = CdrWriter(store, tmp_path / "journal.jsonl", batch_delay=0.01)
    await writer.start()
    answered = [w for w in calls(200) if w.cdr.answer is not None and w.cdr.end is None]
    done: list[str] = []
    for w in answered:  # all in one loop step: the first append runs while the rest queue up
        writer.submit_durable([w], lambda ref=w.cdr.ref: done.append(ref))
    await until(lambda: len(done) == 200)
    assert done == [w.cdr.ref for w in answered]  # in order
    assert writer.counters["durable_commits"] <= 2
    await writer.stop()


async def test_durable_write_on_a_full_disk_still_calls_back(store: BillingStore, tmp_path: Path) -> None:
    """The journal cannot be written: the writes go to the queue (logged) and the
    caller is not held hostage."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    writer = CdrWriter(store, blocker / "journal.jsonl", batch_delay=0.01)
    await writer.start()
    answered = [w for w in calls(1) if w.cdr.answer is not None and w.cdr.end is None]
    done: list[bool] = []
    writer.submit_durable(answered, lambda: done.append(True))
    await until(lambda: done == [True])
    await writer.flush()
    rows = await store.query(include_open=True)
    assert [r.ref for r in rows] == ["call-0"] and writer.counters["durable"] == 0
    await writer.stop()
