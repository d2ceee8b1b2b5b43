"""Shedding load: while the endpoint is marked overloaded, new INVITEs get a
stateless 503 with Retry-After; retransmissions and requests of calls in
progress are still handled."""

from __future__ import annotations

from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import parse_message
from b2bua.transport.driver import smoothed_lag

from .test_endpoint import PHONE, make_endpoint, request_bytes, take


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def test_new_invites_are_shed_with_503_and_retry_after() -> None:
    ep = make_endpoint()
    ep.overloaded = True
    ep.receive(request_bytes("INVITE"), PHONE, 0.0)
    out, events = take(ep)
    assert events == [] and ep.transaction_count == 0 and ep.shed == 1
    [(data, dest)] = out
    resp = parse_message(data)
    assert status(data) == 503 and resp.get("retry-after") == "5" and dest == PHONE


def test_calls_in_progress_and_other_requests_still_pass() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes("INVITE"), PHONE, 0.0)  # accepted before the overload
    _, events = take(ep)
    assert [type(e) for e in events] == [RequestReceived]
    ep.overloaded = True
    ep.receive(request_bytes("INVITE"), PHONE, 0.1)  # its retransmission: absorbed, no 503
    out, events = take(ep)
    assert events == [] and all(status(d) != 503 for d, _ in out)
    for raw in (
        request_bytes("INVITE", branch="z9hG4bK-re", to_tag="t1", cseq=2),  # re-INVITE
        request_bytes("BYE", branch="z9hG4bK-bye", to_tag="t1", cseq=3),
        request_bytes("OPTIONS", branch="z9hG4bK-opt", call_id="o1"),
    ):
        ep.receive(raw, PHONE, 0.2)
        out, events = take(ep)
        assert [type(e) for e in events] == [RequestReceived], raw[:20]
    assert ep.shed == 0
    ep.overloaded = False
    ep.receive(request_bytes("INVITE", branch="z9hG4bK-new", call_id="c2"), PHONE, 0.3)
    assert [type(e) for e in take(ep)[1]] == [RequestReceived]


def test_one_stall_alone_does_not_shed_but_sustained_lateness_does() -> None:
    """The lag probe's smoothing: a single late timer (a 2 s stall) stays under
    the threshold; late samples in a row, as in real saturation, cross it; and
    an on-time loop brings the value back under the threshold a third of it."""
    on = 0.15
    lag = smoothed_lag(0.0, 2.0, on)
    assert lag < on
    lag = smoothed_lag(lag, 0.0, on)
    assert lag < on
    samples = 0
    lag = 0.0
    while lag <= on:
        lag = smoothed_lag(lag, 0.4, on)
        samples += 1
    assert samples == 2
    calm = 0
    while lag >= on / 3:
        lag = smoothed_lag(lag, 0.001, on)
        calm += 1
    assert 1 < calm < 10
    assert smoothed_lag(0.0, -0.01, on) == 0.0  # a timer run early is not negative lateness
