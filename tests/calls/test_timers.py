"""The call layer's timer heap and the endpoint's transaction heap stay bounded
by the live timers: cancelled and stale entries do not wait for their old
deadlines (an ended call's 4-hour and 15-minute timers)."""

from __future__ import annotations

import random

from b2bua.calls.timers import COMPACT_MIN, Timers

from .harness import SDP_A, SDP_B, Harness


def _live_min(timers: Timers) -> float | None:
    live = [e[0] for e in timers._heap if e[2].alive]
    return min(live) if live else None


def test_cancelled_timers_are_compacted_and_next_deadline_is_exact() -> None:
    rng = random.Random(7)
    timers = Timers()
    fired: list[float] = []
    handles = []
    now = 0.0
    for i in range(20_000):
        now += 0.01
        handles.append(timers.schedule(now + rng.choice((1.0, 900.0, 14400.0)), lambda t: fired.append(t)))
        if rng.random() < 0.9:
            handles.pop(rng.randrange(len(handles))).cancel()
        if i % 97 == 0:
            timers.run(now)
            assert timers.next_deadline() == _live_min(timers)
        assert timers.queued <= 2 * len(timers) + COMPACT_MIN
    assert len(timers) == sum(1 for h in handles if h.alive)
    assert timers.next_deadline() == _live_min(timers)
    for h in handles:
        h.cancel()
    assert timers.next_deadline() is None and len(timers) == 0


def test_ten_thousand_ended_calls_leave_only_live_timers() -> None:
    h = Harness()
    a, b = h.a, h.b
    m, ep = h.manager, h.endpoint
    for i in range(10_000):
        a.call_id, a.tag, a.remote_tag, a.routes = f"call-{i}@192.0.2.10", f"tag-{i}", None, []
        a.invite(SDP_A)
        inv = b.take()[-1].request
        b.respond(inv, 200, SDP_B)
        ok = a.take()[-1].response
        a.ack(ok)
        a.request("BYE")
        b.respond(b.take()[-1].request, 200)
        a.take()
        b.take()
        h.advance(0.1)
        # only live timers queued: each ended call is forgotten 64*T1 after its
        # end, and nothing of its maximum duration or session refreshes is kept
        assert m.timers.queued <= 2 * len(m.timers) + COMPACT_MIN, (i, m.timers.queued, len(m.timers))
        assert len(ep._heap) <= 2 * ep.transaction_count + 2 * COMPACT_MIN, (i, len(ep._heap))
        if i % 1000 == 0:
            assert m.next_deadline() == _live_min(m.timers)
    assert len(m.timers) <= 400  # the calls of the last 32 s, waiting to be forgotten
    assert m.next_deadline() == _live_min(m.timers)
    assert len(h.events) == 4 * 10_000  # started, callee answered, caller connected, ended
    h.settle()
    assert m.timers.queued == 0 and ep._heap == []
