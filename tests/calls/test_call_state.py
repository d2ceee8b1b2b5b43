"""The call's state table (b2bua.calls.call) and the call events the manager
returns, on virtual time.

Every transition the table lists is taken by some real call scenario in the
harness (and by nothing else); every pair it does not list is refused with
CallStateError.  Call events are collected by the caller after each step, in
the order CallStarted, CallRinging, CalleeAnswered, CallerConnected, CallEnded.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from b2bua.calls import sdp
from b2bua.calls.call import TRANSITIONS, Call, CallState, CallStateError, Trigger
from b2bua.calls.forks import ANSWER_HOLD_MAX
from b2bua.calls.events import CalleeAnswered, CallEnded, CallerConnected, CallRinging, CallStarted
from b2bua.calls.routing import Route
from b2bua.sip.endpoint import CancelReceived
from b2bua.sip.message import Request, header

from .harness import SDP_A, SDP_B, Harness

Transition = tuple[CallState, Trigger, CallState]

LEGAL: set[Transition] = {(s, t, new) for s, row in TRANSITIONS.items() for t, new in row.items()}


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Transition]]:
    """Every transition any call takes while the test runs."""
    seen: list[Transition] = []
    fire = Call.fire

    def recording(self: Call, trigger: Trigger) -> CallState:
        old = fire(self, trigger)
        seen.append((old, trigger, self.state))
        return old

    monkeypatch.setattr(Call, "fire", recording)
    yield seen


def the_call(h: Harness) -> Call:
    (call,) = [c for c in h.started if c is not None]
    assert isinstance(call, Call)
    return call


def invite_to_b(h: Harness) -> Request:
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    return h.b.expect_one("INVITE").request


def refused_at_routing(h: Harness) -> None:
    h.route = Route(kind="none", destination="555", reason="no route for 555")
    h.a.invite(SDP_A)
    h.a.ack_failure(h.a.expect_one("404 INVITE").response)


def answered_without_ringing_then_bye(h: Harness) -> None:
    inv = invite_to_b(h)
    assert the_call(h).state is CallState.PROCEEDING
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    h.a.ack(h.a.expect_one("200 INVITE").response)
    assert the_call(h).state is CallState.CONNECTED
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)


def busy_before_ringing(h: Harness) -> None:
    inv = invite_to_b(h)
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    h.a.ack_failure(h.a.expect_one("486 INVITE").response)


def ringing_twice_then_answered(h: Harness) -> None:
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    assert the_call(h).state is CallState.EARLY
    h.b.respond(inv, 183, SDP_B)
    assert the_call(h).state is CallState.EARLY
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    _, _, ok = h.a.expect("180 INVITE", "183 INVITE", "200 INVITE")
    h.a.ack(ok.response)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)


def cancelled_while_ringing(h: Harness) -> None:
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.a.cancel()
    _, terminated = h.a.expect("200 CANCEL", "487 INVITE")
    h.b.respond(h.b.expect_one("CANCEL").request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.a.ack_failure(terminated.response)


def serve(h: Harness) -> Call:
    """The server answers the caller with its own SDP; the caller ACKs."""
    call = the_call(h)
    local = sdp.answer(sdp.parse(SDP_A), address="203.0.113.5", port=7000, session_id=1)
    assert h.manager.answer_locally(call.ref, local, h.now)
    h.pump()
    h.a.ack(h.a.expect_one("200 INVITE").response)
    return call


def served_placed_answered_bridged(h: Harness) -> None:
    """The server answers the caller itself, places the callee, bridges them."""
    h.place = False
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    call = serve(h)
    assert call.state is CallState.SERVING
    assert h.manager.place(call.ref, h.now)
    h.pump()
    inv = h.b.expect_one("INVITE").request
    assert call.state is CallState.PLACING
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    assert call.state is CallState.CONNECTED and h.manager.bridge(call.ref, h.now)
    h.pump()
    h.a.respond(h.a.expect_one("INVITE").request, 200, SDP_A)
    h.b.respond(h.b.expect_one("INVITE").request, 200, SDP_B)
    h.b.expect("ACK")
    h.a.expect("ACK")
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)


def served_then_caller_hangs_up(h: Harness) -> None:
    h.place = False
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    serve(h)
    h.a.request("BYE")
    h.a.expect("200 BYE")


def served_while_proceeding_then_busy(h: Harness) -> None:
    """Forks out, no provisional yet: the server answers the caller; the callee is busy."""
    inv = invite_to_b(h)
    serve(h)
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    h.a.respond(h.a.expect_one("BYE").request, 200)


def served_while_ringing_then_no_answer(h: Harness) -> None:
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    serve(h)
    h.advance(60)
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.b.respond(h.b.expect_one("CANCEL").request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")


def held_answer_given(h: Harness) -> Request:
    """hold_answer on; a call whose callee answered at once: its INVITE to B."""
    h.settings.hold_answer = True
    inv = invite_to_b(h)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    return inv


def held_answer_released(h: Harness) -> None:
    """hold_answer: the callee's 2xx waits for release_answer (its record is durable)."""
    h.settings.hold_answer = True
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    call = the_call(h)
    assert call.state is CallState.ANSWERING
    assert [type(e) for e in h.events][-1] is CalleeAnswered  # billing hears of it first
    assert h.a.inbox == []  # the caller is not told yet
    h.advance(0.004)  # the group commit takes a few milliseconds
    assert h.a.inbox == []
    assert h.manager.release_answer(call.ref, h.now)
    h.pump()
    assert not h.manager.release_answer(call.ref, h.now)  # once
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == SDP_B
    assert isinstance(h.events[-1], CallerConnected)
    h.a.ack(ok)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)


def held_answer_cancelled(h: Harness) -> None:
    """A CANCEL while the 2xx is held: 487 to the caller, BYE to the callee."""
    held_answer_given(h)
    h.a.cancel()
    _, terminated = h.a.expect("200 CANCEL", "487 INVITE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.a.ack_failure(terminated.response)
    assert not h.manager.release_answer(the_call(h).ref, h.now)  # nothing to release
    assert h.a.inbox == []
    ended = h.events[-1]
    assert isinstance(ended, CallEnded) and (ended.status, ended.hangup) == (487, "caller")


def held_answer_callee_hangs_up(h: Harness) -> None:
    """The callee's BYE while the 2xx is held: the caller gets 480, never a 2xx."""
    held_answer_given(h)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.ack_failure(h.a.expect_one("480 INVITE").response)
    ended = h.events[-1]
    assert isinstance(ended, CallEnded) and (ended.status, ended.hangup) == (480, "callee")


def held_answer_never_confirmed(h: Harness) -> None:
    """No confirmation within ANSWER_HOLD_MAX: the caller is connected anyway."""
    held_answer_given(h)
    h.advance(ANSWER_HOLD_MAX - 0.01)
    assert h.a.inbox == []
    h.advance(0.02)
    h.a.ack(h.a.expect_one("200 INVITE").response)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)


HELD = [
    (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
    (CallState.PROCEEDING, Trigger.HELD, CallState.ANSWERING),
]

SCENARIOS: dict[str, tuple[Callable[[Harness], None], list[Transition]]] = {
    "answer held, then released": (
        held_answer_released,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.PROVISIONAL, CallState.EARLY),
            (CallState.EARLY, Trigger.HELD, CallState.ANSWERING),
            (CallState.ANSWERING, Trigger.RELEASED, CallState.CONNECTED),
            (CallState.CONNECTED, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "answer held, then cancelled": (held_answer_cancelled, [*HELD, (CallState.ANSWERING, Trigger.ENDED, CallState.ENDED)]),
    "answer held, then the callee hangs up": (
        held_answer_callee_hangs_up, [*HELD, (CallState.ANSWERING, Trigger.ENDED, CallState.ENDED)],
    ),
    "answer held, never confirmed": (
        held_answer_never_confirmed,
        [
            *HELD,
            (CallState.ANSWERING, Trigger.RELEASED, CallState.CONNECTED),
            (CallState.CONNECTED, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "served, placed, answered, bridged": (
        served_placed_answered_bridged,
        [
            (CallState.ROUTING, Trigger.SERVED, CallState.SERVING),
            (CallState.SERVING, Trigger.ROUTED, CallState.PLACING),
            (CallState.PLACING, Trigger.ANSWERED, CallState.CONNECTED),
            (CallState.CONNECTED, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "served, then the caller hangs up": (
        served_then_caller_hangs_up,
        [
            (CallState.ROUTING, Trigger.SERVED, CallState.SERVING),
            (CallState.SERVING, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "served while proceeding, then busy": (
        served_while_proceeding_then_busy,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.SERVED, CallState.PLACING),
            (CallState.PLACING, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "served while ringing, then no answer": (
        served_while_ringing_then_no_answer,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.PROVISIONAL, CallState.EARLY),
            (CallState.EARLY, Trigger.SERVED, CallState.PLACING),
            (CallState.PLACING, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "refused at routing": (refused_at_routing, [(CallState.ROUTING, Trigger.ENDED, CallState.ENDED)]),
    "answered without ringing, then BYE": (
        answered_without_ringing_then_bye,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.ANSWERED, CallState.CONNECTED),
            (CallState.CONNECTED, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "busy before ringing": (
        busy_before_ringing,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "ringing twice, then answered": (
        ringing_twice_then_answered,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.PROVISIONAL, CallState.EARLY),
            (CallState.EARLY, Trigger.PROVISIONAL, CallState.EARLY),
            (CallState.EARLY, Trigger.ANSWERED, CallState.CONNECTED),
            (CallState.CONNECTED, Trigger.ENDED, CallState.ENDED),
        ],
    ),
    "cancelled while ringing": (
        cancelled_while_ringing,
        [
            (CallState.ROUTING, Trigger.ROUTED, CallState.PROCEEDING),
            (CallState.PROCEEDING, Trigger.PROVISIONAL, CallState.EARLY),
            (CallState.EARLY, Trigger.ENDED, CallState.ENDED),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_takes_exactly_its_transitions(name: str, taken: list[Transition]) -> None:
    run, expected = SCENARIOS[name]
    h = Harness()
    run(h)
    assert taken == expected
    assert the_call(h).state is CallState.ENDED
    assert h.a.inbox == [] and h.b.inbox == []
    h.settle()


def test_every_legal_transition_is_reachable() -> None:
    covered = {t for _, expected in SCENARIOS.values() for t in expected}
    assert covered == LEGAL


@pytest.mark.parametrize("state", list(CallState))
def test_illegal_transitions_are_refused(state: CallState) -> None:
    for trigger in Trigger:
        call = Call("ref", Route(kind="extension", destination="1002"), "1001")
        call.state = state
        if trigger in TRANSITIONS[state]:
            call.fire(trigger)
            assert call.state is TRANSITIONS[state][trigger]
        else:
            with pytest.raises(CallStateError, match=f"{trigger.name} is not allowed in {state.name}"):
                call.fire(trigger)
            assert call.state is state  # nothing changed


def test_ended_is_final() -> None:
    assert TRANSITIONS[CallState.ENDED] == {}
    assert all(Trigger.ENDED in row for s, row in TRANSITIONS.items() if s is not CallState.ENDED)


# -- call events: returned after the step, in order ----------------------------------------


def test_events_wait_in_the_manager_until_taken() -> None:
    h = Harness()
    m = h.manager
    h.a.invite(SDP_A)
    assert [type(e) for e in h.events] == [CallStarted]
    assert m.events == []  # taken by the harness after the step
    h.a.expect("100 INVITE")
    h.b.expect_one("INVITE")
    # a step outside the event loop (credit control's cut-off) leaves its events for the caller
    (ref,) = list(m.index.calls)
    assert m.end_call(ref, h.now, "credit: credit exhausted")
    assert [type(e) for e in m.events] == [CallEnded]
    assert [type(e) for e in h.events] == [CallStarted]
    assert [type(e) for e in m.take_events()] == [CallEnded]
    assert m.events == [] and m.take_events() == []


def test_events_in_order_started_ringing_answered_ended() -> None:
    h = Harness()
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    h.b.respond(inv, 183)  # a second provisional is no second CallRinging
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    h.a.ack(h.a.expect("180 INVITE", "183 INVITE", "200 INVITE")[-1].response)
    h.advance(65)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    assert [(type(e), e.at) for e in h.events] == [
        (CallStarted, 0.0), (CallRinging, 0.0), (CalleeAnswered, 0.0), (CallerConnected, 0.0), (CallEnded, 65.0)
    ]
    assert len({e.ref for e in h.events}) == 1
    h.settle()


def test_one_step_returns_several_events_in_order() -> None:
    """A refused attempt is started and ended in one step: both events come together."""
    h = Harness(route=Route(kind="none", destination="555", status=403, reason="Forbidden"))
    h.manager.events.clear()
    h.a.invite(SDP_A, extra=[header("Supported", "timer")])
    assert [type(e) for e in h.events] == [CallStarted, CallEnded]
    h.a.ack_failure(h.a.expect_one("403 INVITE").response)
    h.settle()


def test_a_subscriber_may_end_the_call_while_events_are_dispatched() -> None:
    """What credit control does on CalleeAnswered (end the call at once) runs after
    the step that answered it, and its CallEnded follows in the same dispatch."""
    h = Harness()
    m = h.manager
    seen: list[object] = []

    def dispatch() -> None:  # as ServerApp.dispatch: drain until nothing is left
        while m.events:
            for event in m.take_events():
                seen.append(event)
                if isinstance(event, CalleeAnswered):
                    assert m.end_call(event.ref, h.now, "credit: no credit")

    h.collect = dispatch  # type: ignore[method-assign]
    inv = invite_to_b(h)
    h.b.respond(inv, 180)
    h.b.respond(inv, 200, SDP_B)
    # within the one delivery of B's 200: ACK, then (after the step) the BYE
    h.b.expect("ACK", "BYE")
    _, ok = h.a.expect("180 INVITE", "200 INVITE")
    # A's BYE waits for A's ACK of the 200 (RFC 3261 §15), then goes at once
    h.a.ack(ok.response)
    h.a.expect("BYE")
    assert [type(e) for e in seen] == [CallStarted, CallRinging, CalleeAnswered, CallerConnected, CallEnded]
    ended = seen[-1]
    assert isinstance(ended, CallEnded) and (ended.cause, ended.hangup) == ("credit: no credit", "server")


def test_a_cancel_of_a_transaction_that_is_not_a_call_is_not_claimed() -> None:
    h = Harness()
    inv = h.a.invite(SDP_A)
    cancel = Request("CANCEL", inv.uri, [*inv.headers[:5], header("CSeq", "1 CANCEL")])
    assert h.manager.handle(CancelReceived(transaction_id="z9hG4bK-unknown INVITE", request=cancel), h.now) is False
    assert h.manager.events == []
