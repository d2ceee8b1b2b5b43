"""Registrar and location service (b2bua.calls.registrar) on virtual time,
driven by real REGISTER messages."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.calls.registrar import Binding, ExpiryTimer, LocationService, Registrar
from b2bua.sip.message import Request, Response, parse_message

SRC = ("udp", "127.0.0.1", 5070)
SRC2 = ("tcp", "192.0.2.7", 40123)


def register(
    contacts: list[str] | None = None,
    *,
    user: str = "1001",
    to_user: str | None = None,
    call_id: str = "reg-1@phone",
    cseq: int = 1,
    expires: str | None = None,
    extra: str = "",
) -> Request:
    lines = [
        "REGISTER sip:b2bua.example.com SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@b2bua.example.com>;tag=ft1",
        f"To: <sip:{to_user or user}@b2bua.example.com>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: TestPhone/1.0",
    ]
    lines += [f"Contact: {c}" for c in (contacts or [])]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if extra:
        lines.append(extra)
    lines.append("Content-Length: 0")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def contacts_of(resp: Response) -> list[str]:
    return [v for _, k, v in resp.headers if k == "contact"]


def new() -> Registrar:
    return Registrar(LocationService(), min_expires=60, max_expires=3600, max_bindings=10)


def test_first_registration() -> None:
    reg = new()
    resp = reg.handle(register(["<sip:1001@127.0.0.1:5070;transport=udp>"], expires="600"), SRC, "1001", 100.0, "tt")
    assert resp.status == 200
    assert resp.get("to") == "<sip:1001@b2bua.example.com>;tag=tt"
    assert resp.get("call-id") == "reg-1@phone" and resp.get("cseq") == "1 REGISTER"
    assert contacts_of(resp) == ["<sip:1001@127.0.0.1:5070;transport=udp>;expires=600"]
    [b] = reg.location.lookup("1001", 100.0)
    assert b == Binding(
        aor="1001",
        contact="<sip:1001@127.0.0.1:5070;transport=udp>",
        contact_uri="sip:1001@127.0.0.1:5070;transport=udp",
        expires_at=700.0,
        call_id="reg-1@phone",
        cseq=1,
        source=SRC,
        q=None,
        user_agent="TestPhone/1.0",
        registered_at=100.0,
    )
    assert b"SIP/2.0 200 OK\r\n" in resp.serialize()


def test_default_expiry_is_max_and_above_max_is_lowered() -> None:
    reg = new()
    resp = reg.handle(register(["<sip:1001@10.0.0.1>"]), SRC, "1001", 0.0, "t")
    assert contacts_of(resp) == ["<sip:1001@10.0.0.1>;expires=3600"]
    resp = reg.handle(register(["<sip:1001@10.0.0.1>"], cseq=2, expires="86400"), SRC, "1001", 0.0, "t")
    assert contacts_of(resp) == ["<sip:1001@10.0.0.1>;expires=3600"]


def test_refresh_updates_expiry_source_and_cseq() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1:5070>"], expires="600"), SRC, "1001", 0.0, "t")
    resp = reg.handle(register(["<sip:1001@10.0.0.1:5070>"], cseq=2, expires="600"), SRC2, "1001", 500.0, "t")
    assert contacts_of(resp) == ["<sip:1001@10.0.0.1:5070>;expires=600"]
    [b] = reg.location.lookup("1001", 1000.0)
    assert (b.expires_at, b.cseq, b.source, b.registered_at) == (1100.0, 2, SRC2, 500.0)


def test_two_contacts_then_unregister_one_with_expires_0() -> None:
    reg = new()
    resp = reg.handle(
        register(["<sip:1001@10.0.0.1:5060>;expires=300, <sip:1001@10.0.0.2:5060>"], expires="900"),
        SRC,
        "1001",
        0.0,
        "t",
    )
    assert resp.status == 200
    assert sorted(contacts_of(resp)) == ["<sip:1001@10.0.0.1:5060>;expires=300", "<sip:1001@10.0.0.2:5060>;expires=900"]
    resp = reg.handle(register(["<sip:1001@10.0.0.1:5060>;expires=0"], cseq=2), SRC, "1001", 10.0, "t")
    assert contacts_of(resp) == ["<sip:1001@10.0.0.2:5060>;expires=890"]
    assert [b.contact_uri for b in reg.location.lookup("1001", 10.0)] == ["sip:1001@10.0.0.2:5060"]


def test_a_second_phone_with_another_call_id_adds_a_binding() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"], call_id="a", cseq=50), SRC, "1001", 0.0, "t")
    resp = reg.handle(register(["<sip:1001@10.0.0.2>"], call_id="b", cseq=1), SRC2, "1001", 1.0, "t")
    assert len(contacts_of(resp)) == 2
    # most recent first at equal q
    assert [b.contact_uri for b in reg.location.lookup("1001", 2.0)] == ["sip:1001@10.0.0.2", "sip:1001@10.0.0.1"]


def test_star_with_expires_0_removes_all() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>", "<sip:1001@10.0.0.2>"]), SRC, "1001", 0.0, "t")
    resp = reg.handle(register(["*"], cseq=2, expires="0"), SRC, "1001", 1.0, "t")
    assert resp.status == 200 and contacts_of(resp) == []
    assert reg.location.lookup("1001", 1.0) == [] and reg.location.count == 0


def test_star_with_expires_3600_or_other_contacts_is_400() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"]), SRC, "1001", 0.0, "t")
    for req in (
        register(["*"], cseq=2, expires="3600"),
        register(["*"], cseq=3),
        register(["*", "<sip:1001@10.0.0.2>"], cseq=4, expires="0"),
    ):
        resp = reg.handle(req, SRC, "1001", 1.0, "t")
        assert resp.status == 400, req
        assert "Contact: *" in resp.reason
    assert len(reg.location.lookup("1001", 1.0)) == 1


def test_star_with_old_cseq_is_500() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"], cseq=5), SRC, "1001", 0.0, "t")
    assert reg.handle(register(["*"], cseq=5, expires="0"), SRC, "1001", 1.0, "t").status == 500
    assert len(reg.location.lookup("1001", 1.0)) == 1


def test_bindings_expire_over_virtual_time() -> None:
    reg = new()
    loc = reg.location
    reg.handle(register(["<sip:1001@10.0.0.1>;expires=60", "<sip:1001@10.0.0.2>;expires=120"]), SRC, "1001", 0.0, "t")
    assert len(loc.lookup("1001", 59.9)) == 2
    assert [b.contact_uri for b in loc.lookup("1001", 60.0)] == ["sip:1001@10.0.0.2"]
    assert loc.next_expiry() == 60.0
    removed = loc.expire(60.0)
    assert [b.contact_uri for b in removed] == ["sip:1001@10.0.0.1"]
    assert loc.count == 1 and loc.next_expiry() == 120.0
    resp = reg.handle(register(cseq=2), SRC, "1001", 100.0, "t")  # a query lists what is left
    assert contacts_of(resp) == ["<sip:1001@10.0.0.2>;expires=20"]
    assert loc.lookup("1001", 120.0) == []
    assert [b.contact_uri for b in loc.expire(500.0)] == ["sip:1001@10.0.0.2"]
    assert loc.count == 0 and loc.next_expiry() is None


def run_timer(timer: ExpiryTimer, until: float) -> list[float]:
    """Fire the timer as the driver would (at each deadline) until ``until``; the firing times."""
    fired: list[float] = []
    while (at := timer.next_deadline()) is not None and at <= until:
        timer.handle_timer(at)
        fired.append(at)
    return fired


def test_expiry_timer_purges_at_each_expiry_and_reports() -> None:
    reg = new()
    gone: list[tuple[float, list[str]]] = []
    timer = ExpiryTimer(reg.location, on_expired=lambda bs, now: gone.append((now, [b.contact_uri for b in bs])))
    assert timer.next_deadline() is None  # nothing registered: no timer at all
    reg.handle(register(["<sip:1001@10.0.0.1>;expires=60", "<sip:1001@10.0.0.2>;expires=120"]), SRC, "1001", 0.0, "t")
    reg.handle(register(["<sip:1002@10.0.0.3>;expires=90"], user="1002", call_id="r2"), SRC, "1002", 0.0, "t")
    assert timer.next_deadline() == 60.0
    timer.handle_timer(59.9)  # another component's deadline: nothing due here
    assert gone == [] and reg.location.count == 3
    assert run_timer(timer, 1000.0) == [60.0, 90.0, 120.0]
    assert gone == [(60.0, ["sip:1001@10.0.0.1"]), (90.0, ["sip:1002@10.0.0.3"]), (120.0, ["sip:1001@10.0.0.2"])]
    assert timer.expired == 3 and reg.location.count == 0 and timer.next_deadline() is None


def test_expiry_timer_sweeps_at_most_every_interval() -> None:
    reg = new()
    timer = ExpiryTimer(reg.location, interval=10.0)
    for i in range(5):  # expiring at 60, 61, ... 64
        reg.handle(register([f"<sip:1001@10.0.0.{i}>;expires={60 + i}"], call_id=f"c{i}"), SRC, "1001", 0.0, "t")
    assert run_timer(timer, 1000.0) == [60.0, 70.0]
    assert timer.expired == 5 and reg.location.count == 0


def test_expiry_timer_after_a_refresh_sweeps_early_and_harmlessly() -> None:
    reg = new()
    gone: list[list[Binding]] = []
    timer = ExpiryTimer(reg.location, on_expired=lambda bs, now: gone.append(bs))
    reg.handle(register(["<sip:1001@10.0.0.1>"], expires="120"), SRC, "1001", 0.0, "t")
    reg.handle(register(["<sip:1001@10.0.0.1>"], expires="3600", cseq=2), SRC, "1001", 100.0, "t")  # refreshed
    assert timer.next_deadline() == 120.0  # the cheap bound is early, never late
    assert run_timer(timer, 200.0) == [120.0]
    assert gone == [] and timer.expired == 0 and reg.location.count == 1
    assert timer.next_deadline() == 3700.0  # the sweep learnt the true next expiry
    assert run_timer(timer, 5000.0) == [3700.0] and timer.expired == 1


def test_expiry_timer_after_restore() -> None:
    loc = LocationService()
    b = Binding(aor="1001", contact="<sip:1001@10.0.0.1>", contact_uri="sip:1001@10.0.0.1", expires_at=50.0,
                call_id="c", cseq=1)
    loc.restore([b, msgspec.structs.replace(b, contact_uri="sip:old", expires_at=5.0)], now=10.0)
    timer = ExpiryTimer(loc)
    assert timer.next_deadline() == 50.0 and run_timer(timer, 100.0) == [50.0] and timer.expired == 1


def test_interval_too_brief_423_with_min_expires() -> None:
    reg = new()
    resp = reg.handle(register(["<sip:1001@10.0.0.1>"], expires="30"), SRC, "1001", 0.0, "t")
    assert (resp.status, resp.reason, resp.get("min-expires")) == (423, "Interval Too Brief", "60")
    resp = reg.handle(register(["<sip:1001@10.0.0.1>;expires=59"], expires="3600"), SRC, "1001", 0.0, "t")
    assert resp.status == 423
    # the contact parameter wins over the header, both ways
    assert reg.handle(register(["<sip:1001@10.0.0.1>;expires=60"], expires="5"), SRC, "1001", 0.0, "t").status == 200
    assert reg.location.count == 1


def test_out_of_order_cseq_is_500_and_changes_nothing() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"], cseq=10, expires="600"), SRC, "1001", 0.0, "t")
    for cseq in (10, 9):
        resp = reg.handle(register(["<sip:1001@10.0.0.1>"], cseq=cseq, expires="0"), SRC, "1001", 1.0, "t")
        assert resp.status == 500
    [b] = reg.location.lookup("1001", 1.0)
    assert (b.cseq, b.expires_at) == (10, 600.0)
    # a new Call-ID (the phone rebooted) may start again at 1
    resp = reg.handle(register(["<sip:1001@10.0.0.1>"], call_id="new", cseq=1, expires="600"), SRC, "1001", 2.0, "t")
    assert resp.status == 200 and reg.location.lookup("1001", 2.0)[0].call_id == "new"


def test_atomic_a_bad_contact_changes_nothing() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"], expires="600"), SRC, "1001", 0.0, "t")
    resp = reg.handle(register(["<sip:1001@10.0.0.1>;expires=0", "<sip:1001@10.0.0.2>;expires=5"], cseq=2),
                      SRC, "1001", 1.0, "t")
    assert resp.status == 423
    assert len(reg.location.lookup("1001", 1.0)) == 1


def test_to_aor_must_be_the_authenticated_user() -> None:
    reg = new()
    resp = reg.handle(register(["<sip:1002@10.0.0.1>"], user="1001", to_user="1002"), SRC, "1001", 0.0, "t")
    assert resp.status == 403
    assert reg.location.count == 0

    class User:
        extension = "1002"

    resp = reg.handle(register(["<sip:1002@10.0.0.1>"], user="1001", to_user="1002"), SRC, User(), 0.0, "t")
    assert resp.status == 200


def test_malformed_contacts_are_400_naming_the_fault() -> None:
    reg = new()
    for contact, words in [
        ("<sip:1001@10.0.0.1", "Malformed Contact"),
        ("<sip:1001@bad host>", "Malformed Contact"),
        ("<sip:1001@10.0.0.1>;expires=soon", "expires"),
        ("<sip:1001@10.0.0.1>;q=2", "q parameter"),
        ("<tel:+15551234>", "sip:"),
    ]:
        resp = reg.handle(register([contact]), SRC, "1001", 0.0, "t")
        assert resp.status == 400, contact
        assert words in resp.reason, (contact, resp.reason)
    assert reg.handle(register(["<sip:1001@10.0.0.1>"], expires="never"), SRC, "1001", 0.0, "t").status == 400
    assert reg.location.count == 0


def test_q_orders_lookup_and_is_echoed() -> None:
    reg = new()
    resp = reg.handle(
        register(['"Desk" <sip:1001@10.0.0.1>;q=0.5', "<sip:1001@10.0.0.2>;q=0.9", "<sip:1001@10.0.0.3>;q=0.1"]),
        SRC,
        "1001",
        0.0,
        "t",
    )
    assert '"Desk" <sip:1001@10.0.0.1>;q=0.5;expires=3600' in contacts_of(resp)
    assert [b.q for b in reg.location.lookup("1001", 1.0)] == [0.9, 0.5, 0.1]
    # q may change on refresh
    reg.handle(register(["<sip:1001@10.0.0.3>;q=1.0"], cseq=2), SRC, "1001", 1.0, "t")
    assert reg.location.lookup("1001", 1.0)[0].contact_uri == "sip:1001@10.0.0.3"


def test_instance_id_replaces_the_old_address() -> None:
    reg = new()
    inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1'
    reg.handle(register([f"<sip:1001@10.0.0.1>;{inst}"]), SRC, "1001", 0.0, "t")
    resp = reg.handle(register([f"<sip:1001@10.0.0.9>;{inst}"], call_id="after-reboot"), SRC2, "1001", 5.0, "t")
    assert resp.status == 200
    [b] = reg.location.lookup("1001", 5.0)
    assert b.contact_uri == "sip:1001@10.0.0.9"
    assert (b.instance, b.reg_id) == ("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>", 1)


def test_uri_equality_matches_bindings() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@PHONE.example.com;transport=UDP>"]), SRC, "1001", 0.0, "t")
    reg.handle(register(["<sip:1001@phone.example.com;transport=udp>;expires=0"], cseq=2), SRC, "1001", 1.0, "t")
    assert reg.location.count == 0


def test_too_many_registrations_is_403() -> None:
    reg = Registrar(LocationService(), min_expires=60, max_expires=3600, max_bindings=2)
    reg.handle(register(["<sip:1001@10.0.0.1>", "<sip:1001@10.0.0.2>"]), SRC, "1001", 0.0, "t")
    resp = reg.handle(register(["<sip:1001@10.0.0.3>"], cseq=2), SRC, "1001", 1.0, "t")
    assert (resp.status, resp.reason) == (403, "Too many registrations")
    # refreshing, or replacing one with another in one request, stays allowed
    ok = reg.handle(register(["<sip:1001@10.0.0.1>;expires=0", "<sip:1001@10.0.0.3>"], cseq=3), SRC, "1001", 2.0, "t")
    assert ok.status == 200 and len(contacts_of(ok)) == 2


def test_200_lists_all_bindings_with_remaining_expires() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>"], call_id="a", expires="1000"), SRC, "1001", 0.0, "t")
    reg.handle(register(["<sip:1001@10.0.0.2>"], call_id="b", expires="600"), SRC, "1001", 100.0, "t")
    resp = reg.handle(register(["<sip:1001@10.0.0.3>"], call_id="c", expires="300"), SRC, "1001", 250.0, "t")
    assert sorted(contacts_of(resp)) == [
        "<sip:1001@10.0.0.1>;expires=750",
        "<sip:1001@10.0.0.2>;expires=450",
        "<sip:1001@10.0.0.3>;expires=300",
    ]


def test_not_register_and_missing_headers() -> None:
    reg = new()
    req = register(["<sip:1001@10.0.0.1>"])
    req.method = "OPTIONS"
    assert reg.handle(req, SRC, "1001", 0.0, "t").status == 405
    req = register(["<sip:1001@10.0.0.1>"])
    req.remove("call-id")
    resp = reg.handle(req, SRC, "1001", 0.0, "t")
    assert resp.status == 400 and "Call-ID" in resp.reason


def test_snapshot_and_restore() -> None:
    reg = new()
    reg.handle(register(["<sip:1001@10.0.0.1>;expires=100"]), SRC, "1001", 0.0, "t")
    reg.handle(register(["<sip:1002@10.0.0.2>;expires=1000"], user="1002"), SRC2, "1002", 0.0, "t")
    snap = reg.location.snapshot()
    import msgspec

    wire = msgspec.json.encode(snap)
    restored = LocationService()
    restored.restore(msgspec.json.decode(wire, type=list[Binding]), 200.0)
    assert restored.count == 1
    [b] = restored.lookup("1002", 200.0)
    assert b.contact_uri == "sip:1002@10.0.0.2" and list(b.source) == list(SRC2)
    assert [x.aor for x in restored.all(200.0)] == ["1002"]


# -- property: the location service against a dict model ------------------------------------

AORS = ["1001", "1002"]
HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(AORS), st.sampled_from(HOSTS), st.sampled_from([60, 61, 600])),
        st.tuples(st.just("unregister"), st.sampled_from(AORS), st.sampled_from(HOSTS), st.just(0)),
        st.tuples(st.just("star"), st.sampled_from(AORS), st.just(""), st.just(0)),
        st.tuples(st.just("advance"), st.just(""), st.just(""), st.sampled_from([1, 30, 59, 60, 300])),
        st.tuples(st.just("expire"), st.just(""), st.just(""), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_lookup_matches_a_dict_model(steps: list[tuple[str, str, str, int]]) -> None:
    reg = Registrar(LocationService(), min_expires=60, max_expires=3600, max_bindings=2)
    model: dict[str, dict[str, float]] = {a: {} for a in AORS}
    cseq = {a: 0 for a in AORS}
    now = 0.0

    def live(aor: str) -> dict[str, float]:
        return {u: t for u, t in model[aor].items() if t > now}

    for op, aor, host, n in steps:
        if op in ("register", "unregister", "star"):
            cseq[aor] += 1
            contacts = ["*"] if op == "star" else [f"<sip:{aor}@{host}>;expires={n}"]
            req = register(contacts, user=aor, call_id=f"cid-{aor}", cseq=cseq[aor],
                           expires="0" if op == "star" else None)
            resp = reg.handle(req, SRC, aor, now, "t")
            uri = f"sip:{aor}@{host}"
            current = live(aor)
            if op == "star":
                model[aor] = {}
                assert resp.status == 200
            elif op == "unregister":
                current.pop(uri, None)
                model[aor] = current
                assert resp.status == 200
            elif uri not in current and len(current) >= 2:
                assert resp.status == 403
            else:
                current[uri] = now + n
                model[aor] = current
                assert resp.status == 200
            if resp.status == 200:
                assert sorted(contacts_of(resp)) == sorted(
                    f"<{u}>;expires={round(t - now)}" for u, t in live(aor).items()
                )
        elif op == "advance":
            now += n
        else:
            removed = reg.location.expire(now)
            assert all(b.expires_at <= now for b in removed)
        for a in AORS:
            found = reg.location.lookup(a, now)
            assert {b.contact_uri: b.expires_at for b in found} == live(a)
            # most recent first (all q equal)
            assert [b.registered_at for b in found] == sorted((b.registered_at for b in found), reverse=True)
        assert {(b.aor, b.contact_uri) for b in reg.location.all(now)} == {
            (a, u) for a in AORS for u in live(a)
        }
