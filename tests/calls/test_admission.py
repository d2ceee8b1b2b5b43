"""Call admission (b2bua.calls.admission): every step and race, on virtual time.

The first half drives the machine alone with endpoint events built here; the
second runs it in the call harness (an Endpoint and a CallManager with
scripted peers), with an executor shaped like runtime/app.py and credit
checks that answer when the test says so.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any, Sequence

import msgspec
import pytest

from b2bua.billing.cdr import CdrBuilder
from b2bua.billing.credit import CreditCheck
from b2bua.billing.reports import export_record
from b2bua.calls.admission import (
    CANCELLED_REASON, LOCKED_REASON, TRANSITIONS, Admission, CheckCredit, Command, CreditRequest,
)
from b2bua.calls.admission import CreditChecked, InviteReceived, Policy, SendResponse, StartCall, Step
from b2bua.calls.admission import TRANSIT_REFUSED, CredentialGuard, TransactionGone, authenticate
from b2bua.calls.events import CallEnded, CallStarted
from b2bua.calls.routing import Extension, Route, RoutePrefix, Router, Trunk
from b2bua.sip.build import make_response
from b2bua.sip.digest import DigestServer, authorization_for_challenges
from b2bua.sip.endpoint import Address, CancelReceived, RequestReceived
from b2bua.sip.message import Request, header, parse_message
from dialplan import GroupPolicy, Lockout, Mode
from b2bua.runtime.authcodes import AuthCodeTable, hash_code
from dialplan.authcodes import AuthCode
from dialplan.codes import AccountCode
from dialplan.numbering import CallClass, ExtensionPlan, NorthAmericanPlan
from dialplan.policy import Validation

from .harness import A_ADDR, GW_ADDR, LOCAL, SDP_A, SDP_B, Harness

TODAY = datetime.date(2026, 12, 3)
PHONE = A_ADDR  # 192.0.2.10
CARRIER_ADDR = GW_ADDR  # 192.0.2.40
PBX_ADDR = Address("udp", "192.0.2.50", 5060)

USERS = [
    Extension(extension="1001", auth_name="1001", password="pw1001", display_name="Alice", department="Sales"),
    Extension(extension="1002", auth_name="1002", password="pw1002"),
    Extension(extension="1003", auth_name="lobby", password="pwlobby", group="lobby",
              account_code_mode=Mode.MANDATORY, account_code="55555"),
]
CARRIER = Trunk(name="carrier", host=CARRIER_ADDR.host, inbound=(f"{CARRIER_ADDR.host}/32",),
                dids={"5551002": "1002"})
PBX = Trunk(name="pbx", host=PBX_ADDR.host, inbound=(f"{PBX_ADDR.host}/32",), dids={"5551001": "1001"},
            group="default", pass_account_code=True, allow_transit=True)
ROUTES = [RoutePrefix(prefix="", trunk="carrier")]
GROUPS = {
    "default": GroupPolicy(mode=Mode.CLASSES, required_classes=frozenset({CallClass.LONG_DISTANCE}),
                           code_length=5, fac="*88", validation=Validation.LIST),
    "lobby": GroupPolicy(mode=Mode.OFF, validation=Validation.LIST),
}
CODES = {
    "12345": AccountCode(code="12345", name="Acme", department="Legal", rate_plan="gold"),
    "31337": AccountCode(code="31337", name="Prepaid", credit_account="prepaid-1"),
    "55555": AccountCode(code="55555", name="Lobby"),
}
PLAN = NorthAmericanPlan(home_area_code="801", extensions=ExtensionPlan(numbers=frozenset({"1001", "1002", "1003"})))
LONG = "2125551234"  # long distance from area 801: a code is required
LOCAL_NUMBER = "6424655"


class Directory:
    """The account codes of every group (one table here); ``broken`` fails every lookup."""

    def __init__(self) -> None:
        self.broken = False

    def for_group(self, group: str, /) -> Any:
        if self.broken:
            return {}.__getitem__  # not a lookup at all: the policy's call raises
        return CODES


def machine(*, groups: Any = GROUPS, credit: bool = True, challenge: int = 401,
            codes: Any = "default", guard: Any = None) -> Admission:
    auth = DigestServer("b2bua", b"secret", 300.0, algorithms=("MD5",))
    router = Router(USERS, [CARRIER, PBX], ROUTES, emergency=frozenset(PLAN.emergency))
    policy = Policy(groups=groups, plan=PLAN, codes=Directory() if codes == "default" else codes,
                    challenge=challenge, credit=credit)
    return Admission(USERS, auth, router, policy, Lockout(3, 300.0, 900.0), guard=guard)


_txn = itertools.count(1)


def invite(dialed: str, *, source: Address = PHONE, extra: Sequence[tuple[str, str]] = (),
           from_user: str = "1001", txn: str | None = None) -> RequestReceived:
    n = next(_txn)
    lines = [
        f"INVITE sip:{dialed}@{LOCAL.host} SIP/2.0",
        f"Via: SIP/2.0/UDP {source.host}:{source.port};branch=z9hG4bK-{n}",
        "Max-Forwards: 70",
        f'From: "Caller" <sip:{from_user}@{source.host}>;tag=t{n}',
        f"To: <sip:{dialed}@{LOCAL.host}>",
        f"Call-ID: call-{n}@{source.host}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{from_user}@{source.host}:{source.port}>",
        *(f"{k}: {v}" for k, v in extra),
        "Content-Length: 0",
    ]
    req = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(req, Request)
    return RequestReceived(request=req, source=source, transaction_id=txn or f"txn-{n}")


def received(ev: RequestReceived) -> InviteReceived:
    return InviteReceived(event=ev, today=TODAY)


def signed(adm: Admission, dialed: str, now: float, *, user: str = "1001", password: str = "pw1001",
           **kw: Any) -> RequestReceived:
    """An INVITE with credentials answering a fresh challenge."""
    (challenge,) = adm.handle(received(invite(dialed, **kw)), now)
    assert isinstance(challenge, SendResponse) and challenge.status == 401
    values = [v for _, k, v in challenge.headers if k == "www-authenticate"]
    uri = f"sip:{dialed}@{LOCAL.host}"
    value = authorization_for_challenges(values, "INVITE", uri, user, password, "cnonce")
    return invite(dialed, extra=[("Authorization", value)], **kw)


def start(cmds: list[Command]) -> StartCall:
    assert len(cmds) == 1 and isinstance(cmds[0], StartCall), cmds
    return cmds[0]


def call(adm: Admission, dialed: str, now: float = 0.0, **kw: Any) -> list[Command]:
    return adm.handle(received(signed(adm, dialed, now, **kw)), now)


# -- the table ---------------------------------------------------------------------------


def test_every_step_leads_to_done() -> None:
    """The table is closed: every target is a step with transitions or DONE,
    and every step is reachable from AUTHENTICATE."""
    reach, todo = set(), [Step.AUTHENTICATE]
    while todo:
        s = todo.pop()
        if s in reach:
            continue
        reach.add(s)
        assert s is Step.DONE or TRANSITIONS[s], s
        todo.extend(TRANSITIONS.get(s, {}).values())
    assert reach == set(Step)


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("status,name", [(401, "www-authenticate"), (407, "proxy-authenticate")])
def test_no_credentials_are_challenged(status: int, name: str) -> None:
    adm = machine(challenge=status)
    (cmd,) = adm.handle(received(invite("1002")), 0.0)
    assert isinstance(cmd, SendResponse) and cmd.status == status
    assert [k for _, k, _ in cmd.headers] == [name] and "stale" not in cmd.headers[0][2]
    assert not adm.pending


def test_wrong_password_is_refused_403() -> None:
    adm = machine()
    (cmd,) = adm.handle(received(signed(adm, "1002", 0.0, password="wrong")), 0.0)
    assert isinstance(cmd, SendResponse) and (cmd.status, cmd.reason) == (403, "Authentication failed")
    assert cmd.headers == ()


def test_unknown_user_is_refused_403() -> None:
    adm = machine()
    (cmd,) = adm.handle(received(signed(adm, "1002", 0.0, user="9999")), 0.0)
    assert isinstance(cmd, SendResponse) and cmd.status == 403


def test_stale_nonce_is_challenged_again() -> None:
    adm = machine()
    ev = signed(adm, "1002", 0.0)
    (cmd,) = adm.handle(received(ev), 301.0)
    assert isinstance(cmd, SendResponse) and cmd.status == 401
    assert "stale=true" in cmd.headers[0][2].lower()


def test_authenticated_phone_without_account_codes_is_routed() -> None:
    adm = machine(groups={})
    ev = signed(adm, "1002", 0.0)
    s = start(adm.handle(received(ev), 0.0))
    assert s.event is ev and s.route == Route(kind="extension", destination="1002")
    assert (s.caller, s.caller_user, s.display, s.department, s.group) == ("1001", "1001", "Alice", "Sales", "default")
    out = start(call(adm, "912125551234"))
    assert out.route.kind == "trunk" and out.route.trunk == CARRIER and out.route.label == "trunk:carrier"
    assert out.account.source == "none" and not adm.pending


# -- trunks --------------------------------------------------------------------------------


@pytest.mark.parametrize("dialed", ["5551002", "+5551002"])
def test_trunk_did_rings_its_extension_without_authentication(dialed: str) -> None:
    adm = machine()
    s = start(adm.handle(received(invite(dialed, source=CARRIER_ADDR, from_user="2125550000")), 0.0))
    assert s.route == Route(kind="extension", destination="1002")
    assert (s.caller, s.caller_user, s.display) == ("2125550000", "trunk:carrier", "Caller")


def test_trunk_without_group_refuses_an_unknown_did() -> None:
    s = start(machine().handle(received(invite("5559999", source=CARRIER_ADDR)), 0.0))
    assert (s.route.kind, s.route.status, s.route.reason) == ("none", 404, "DID 5559999 is not assigned")


def test_trunk_with_group_calls_out_under_its_policy() -> None:
    adm = machine()
    did = start(adm.handle(received(invite("5551001", source=PBX_ADDR)), 0.0))
    assert did.route == Route(kind="extension", destination="1001") and did.account.source == "none"
    refused = start(adm.handle(received(invite(LONG, source=PBX_ADDR)), 0.0))
    assert (refused.route.kind, refused.route.status) == ("none", 403)
    assert refused.route.reason.startswith("Account code required")
    coded = start(adm.handle(received(invite(LONG, source=PBX_ADDR, extra=[("X-Account-Code", "12345")])), 0.0))
    assert coded.route.kind == "trunk" and coded.caller_user == "trunk:pbx" and coded.group == "default"
    assert (coded.account.code, coded.account.source, coded.account.name) == ("12345", "trunk", "Acme")


# -- lockout and policy --------------------------------------------------------------------------


def test_repeated_invalid_codes_lock_the_extension() -> None:
    adm = machine()
    for _ in range(3):
        s = start(call(adm, f"99999**{LONG}"))
        assert (s.route.status, s.route.reason) == (403, "Invalid account code")
    assert adm.lockouts == 1 and adm.lockout_refusals == 0
    s = start(call(adm, f"12345**{LONG}", 1.0))  # even a good code, while locked
    assert (s.route.kind, s.route.status, s.route.reason) == ("none", 403, LOCKED_REASON)
    assert s.account.source == "none"  # refused without evaluation
    assert adm.lockout_refusals == 1
    s = start(call(adm, f"12345**{LONG}", 1000.0))  # the lockout is over
    assert s.route.kind == "trunk" and s.account.code == "12345"


def test_trunk_group_calls_lock_by_address() -> None:
    adm = machine()
    # an address may hide a whole office: it locks at the (higher) address threshold
    for _ in range(adm.lockout.address_max_failures):
        start(adm.handle(received(invite(LONG, source=PBX_ADDR, extra=[("X-Account-Code", "99999")])), 0.0))
    s = start(adm.handle(received(invite(LONG, source=PBX_ADDR, extra=[("X-Account-Code", "12345")])), 1.0))
    assert s.route.reason == LOCKED_REASON
    ok = start(call(adm, f"12345**{LONG}", 1.0))  # a phone elsewhere is not locked
    assert ok.route.kind == "trunk"


@pytest.mark.parametrize(
    "dialed,kind,status,reason",
    [
        (LOCAL_NUMBER, "trunk", 404, ""),  # allowed, no code needed
        (f"12345**{LONG}", "trunk", 404, ""),  # allowed with a valid code
        (f"*8812345{LONG}", "trunk", 404, ""),  # feature access code form
        (LONG, "none", 403, "Account code required"),  # collect: refused until prompting exists
        (f"99999**{LONG}", "none", 403, "Invalid account code"),
        ("12345**", "none", 484, ""),  # nothing after the code
        ("1002", "extension", 404, ""),  # internal
    ],
)
def test_each_policy_outcome(dialed: str, kind: str, status: int, reason: str) -> None:
    s = start(call(machine(), dialed))
    assert (s.route.kind, s.route.status) == (kind, status), s.route
    assert s.route.reason.startswith(reason)


def test_allowed_call_carries_the_account() -> None:
    s = start(call(machine(), f"12345**{LONG}"))
    assert s.route.destination == LONG and s.route.trunk == CARRIER
    a = s.account
    assert (a.code, a.source, a.valid, a.call_class, a.name, a.department, a.rate_plan) == (
        "12345", "shortcut", True, "long_distance", "Acme", "Legal", "gold")


def test_assigned_code_and_user_mode() -> None:
    adm = machine()
    s = start(call(adm, LONG, user="lobby", password="pwlobby"))
    assert s.caller == "1003" and s.caller_user == "lobby" and s.group == "lobby"
    assert (s.account.code, s.account.source) == ("55555", "assigned") and s.route.kind == "trunk"


def test_code_database_missing_fails_closed() -> None:
    s = start(call(machine(codes=None), f"12345**{LONG}"))
    assert (s.route.kind, s.route.status) == ("none", 503)
    assert start(call(machine(codes=None), LOCAL_NUMBER)).route.kind == "trunk"


# -- credit ---------------------------------------------------------------------------------------


def checking(adm: Admission, dialed: str = f"31337**{LONG}", now: float = 0.0) -> CheckCredit:
    cmds = call(adm, dialed, now)
    assert len(cmds) == 1 and isinstance(cmds[0], CheckCredit), cmds
    assert cmds[0].txn in adm.pending
    return cmds[0]


def test_credit_check_describes_the_call() -> None:
    adm = machine()
    check = checking(adm, now=5.0)
    d = check.request
    assert isinstance(d, CreditRequest)  # what the check needs, not a call event without a call
    assert (d.caller, d.caller_user, d.dialed, d.destination, d.route) == (
        "1001", "1001", LONG, LONG, "trunk:carrier")  # the code is not repeated
    assert d.credit_account == "prepaid-1" == d.account.credit_account
    assert (d.call_class, d.rate_plan) == (d.account.call_class, d.account.rate_plan)
    assert d.call_class == "long_distance"
    assert adm.pending[check.txn].step is Step.CHECKING_CREDIT


def test_credit_ok_starts_the_call() -> None:
    adm = machine()
    check = checking(adm)
    s = start(adm.handle(CreditChecked(txn=check.txn, result=CreditCheck(ok=True, reason="ok")), 1.0))
    assert s.route.kind == "trunk" and s.account.credit_account == "prepaid-1"
    assert not adm.pending and adm.credit_refusals == 0


@pytest.mark.parametrize(
    "result,status,reason",
    [
        (CreditCheck(ok=False, reason="balance too low", status=402), 402, "Insufficient credit"),
        (CreditCheck(ok=False, reason="unknown credit account", status=403), 403,
         "Credit refused: unknown credit account"),
        (CreditCheck(ok=False, reason="database down", status=503), 503, "Credit control unavailable"),
        (None, 503, "Credit control unavailable"),  # the check raised: fail closed
    ],
)
def test_credit_refused(result: CreditCheck | None, status: int, reason: str) -> None:
    adm = machine()
    check = checking(adm)
    s = start(adm.handle(CreditChecked(txn=check.txn, result=result), 1.0))
    assert (s.route.kind, s.route.status, s.route.reason, s.route.destination) == ("none", status, reason, LONG)
    assert adm.credit_refusals == 1 and not adm.pending


def test_credit_unavailable_refuses_without_a_check() -> None:
    s = start(call(machine(credit=False), f"31337**{LONG}"))
    assert (s.route.status, s.route.reason) == (503, "Credit control unavailable")


def test_no_credit_check_for_emergency_or_unroutable_calls() -> None:
    adm = machine()
    s = start(call(adm, "31337**911"))
    assert s.route.emergency and s.route.kind == "trunk"
    nowhere = machine()
    nowhere.router = Router(USERS, [CARRIER], [], emergency=frozenset())
    s = start(call(nowhere, f"31337**{LONG}"))
    assert s.route.kind == "none" and s.route.reason == f"no route for {LONG}"


def cancel_of(txn: str) -> CancelReceived:
    req = parse_message(b"CANCEL sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-c\r\n"
                        b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@192.0.2.1>\r\nCall-ID: c\r\nCSeq: 1 CANCEL\r\n"
                        b"Content-Length: 0\r\n\r\n")
    assert isinstance(req, Request)
    return CancelReceived(transaction_id=txn, request=req)


def test_cancel_during_the_check_starts_a_487_refusal_and_ignores_the_late_result() -> None:
    adm = machine()
    check = checking(adm)
    assert adm.claims(cancel_of(check.txn))
    s = start(adm.handle(cancel_of(check.txn), 1.0))
    assert s.route == Route(kind="none", destination=LONG, status=487, reason=CANCELLED_REASON, hangup="caller")
    assert s.account.credit_account == "prepaid-1"  # the record names the account
    assert not adm.pending and not adm.claims(cancel_of(check.txn))
    assert adm.handle(CreditChecked(txn=check.txn, result=CreditCheck(ok=True, reason="ok")), 2.0) == []
    assert adm.credit_refusals == 0


def test_cancel_after_the_result_is_not_admissions() -> None:
    adm = machine()
    check = checking(adm)
    start(adm.handle(CreditChecked(txn=check.txn, result=CreditCheck(ok=True, reason="ok")), 1.0))
    assert not adm.claims(cancel_of(check.txn))  # the call manager's now
    assert adm.handle(cancel_of(check.txn), 2.0) == []


def test_transaction_gone_during_the_check_ends_the_attempt() -> None:
    adm = machine()
    check = checking(adm)
    assert adm.handle(TransactionGone(txn=check.txn), 1.0) == []
    assert not adm.pending
    assert adm.handle(CreditChecked(txn=check.txn, result=CreditCheck(ok=True, reason="ok")), 2.0) == []
    assert adm.handle(cancel_of(check.txn), 2.0) == []


def test_a_retransmission_during_the_check_starts_nothing() -> None:
    adm = machine()
    check = checking(adm)
    again = adm.pending[check.txn].event
    assert adm.handle(received(again), 0.5) == []
    assert len(adm.pending) == 1
    start(adm.handle(CreditChecked(txn=check.txn, result=CreditCheck(ok=True, reason="ok")), 1.0))


def test_not_a_server_transaction_is_ignored() -> None:
    ev = invite("1002")
    ev = RequestReceived(request=ev.request, source=ev.source, transaction_id=None)
    assert machine().handle(received(ev), 0.0) == []


# -- in the call harness, on virtual time ------------------------------------------------------------


class AdmissionHarness(Harness):
    """The harness with admission in front of the manager, as runtime/app.py
    wires it; credit checks wait in ``checks`` until the test answers them."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.admission = machine()
        self.admission.router = Router(USERS, [Trunk(name="carrier", host=GW_ADDR.host)], ROUTES)
        self.checks: list[CheckCredit] = []

    def pump(self) -> None:
        ep = self.endpoint
        while ep.outbox or ep.events:
            events, ep.events = ep.events, []
            Harness.pump(self)  # delivers the datagrams; the events are dispatched here
            for event in events:
                self.dispatch(event)

    def dispatch(self, event: object) -> None:
        if self.manager.handle(event, self.now):
            pass
        elif self.admission.claims(event):
            self.execute(self.admission.handle(event, self.now))
        elif isinstance(event, RequestReceived) and event.request.method == "INVITE" and event.transaction_id:
            self.execute(self.admission.handle(InviteReceived(event=event, today=TODAY), self.now))
        else:
            self.unhandled.append(event)
        self.collect()

    def execute(self, commands: list[Command]) -> None:
        for cmd in commands:
            if isinstance(cmd, SendResponse) and cmd.stateless:
                assert cmd.event.transaction_id is not None
                resp = make_response(cmd.event.request, cmd.status, cmd.reason, to_tag="chal", headers=list(cmd.headers))
                self.endpoint.respond_statelessly(cmd.event.transaction_id, resp)
            elif isinstance(cmd, SendResponse):
                self.manager.reply(cmd.event, cmd.status, self.now, reason=cmd.reason, extra=list(cmd.headers))
            elif isinstance(cmd, StartCall):
                self.started.append(self.manager.start_call(
                    cmd.event, cmd.route, caller=cmd.caller, caller_user=cmd.caller_user, display=cmd.display,
                    department=cmd.department, group=cmd.group, account=cmd.account, dialed=cmd.dialed,
                    now=self.now))
            else:
                self.checks.append(cmd)

    def answer_check(self, result: CreditCheck | None) -> None:
        """The pending credit check answers now (as runtime/server.py's defer does)."""
        cmd = self.checks.pop(0)
        if self.endpoint.transaction(cmd.txn) is None:
            self.execute(self.admission.handle(TransactionGone(txn=cmd.txn), self.now))
        else:
            self.execute(self.admission.handle(CreditChecked(txn=cmd.txn, result=result), self.now))
        self.collect()
        self.pump()

    def authorized_invite(self, dialed: str) -> None:
        """INVITE, 401, ACK, INVITE with credentials (as a phone does)."""
        self.a.invite(SDP_A, callee=dialed)
        r = self.a.expect_one("401 INVITE")
        self.a.ack_failure(r.response)
        values = r.response.get_all("www-authenticate")
        uri = f"sip:{dialed}@{LOCAL.host}"
        auth = authorization_for_challenges(values, "INVITE", uri, "1001", "pw1001", "cn")
        self.a.invite(SDP_A, callee=dialed, extra=[header("Authorization", auth)])


def test_harness_challenge_then_call_to_an_extension() -> None:
    h = AdmissionHarness()
    h.authorized_invite("1002")
    inv = h.b.expect_one("INVITE")
    assert h.a.kinds() in (["100 INVITE"], [])
    h.b.respond(inv.request, 200, SDP_B)
    ok = [r for r in h.a.take() if r.kind == "200 INVITE"][0]
    h.a.ack(ok.response)
    h.b.expect("ACK")
    started = h.events[0]
    assert isinstance(started, CallStarted) and started.route == "extension" and started.caller == "1001"
    h.a.request("BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert h.ended().hangup == "caller"
    h.settle()


def prepaid_call(h: AdmissionHarness) -> None:
    h.authorized_invite(f"31337**{LONG}")
    assert len(h.checks) == 1 and h.events == []
    h.advance(0.3)
    h.a.expect("100 INVITE")  # the transaction's own 100 Trying while the check runs


def test_harness_credit_ok_rings_the_trunk() -> None:
    h = AdmissionHarness()
    prepaid_call(h)
    h.answer_check(CreditCheck(ok=True, reason="ok"))
    inv = h.gw.expect_one("INVITE")
    assert inv.request.uri.startswith(f"sip:{LONG}@")
    started = h.events[0]
    assert isinstance(started, CallStarted) and started.route == "trunk:carrier"
    assert started.account.credit_account == "prepaid-1"
    assert started.dialed == LONG  # the record's dialed number (CDR dst) without the code
    h.gw.respond(inv.request, 486)
    h.gw.expect("ACK")
    r = h.a.expect("100 INVITE", "486 INVITE")[1]  # the manager's own 100 when the call starts
    h.a.ack_failure(r.response)
    h.settle()


def test_harness_credit_refused_is_answered_and_recorded() -> None:
    h = AdmissionHarness()
    prepaid_call(h)
    h.answer_check(CreditCheck(ok=False, reason="balance too low", status=402))
    r = h.a.expect_one("402 INVITE")
    assert r.response.reason == "Insufficient credit"
    h.a.ack_failure(r.response)
    assert [type(e) for e in h.events] == [CallStarted, CallEnded]
    assert h.ended().status == 402 and h.gw.take() == []
    h.settle()


def test_harness_cancel_during_the_check_is_answered_487_and_recorded() -> None:
    h = AdmissionHarness()
    prepaid_call(h)
    h.a.cancel()
    got = h.a.take()
    assert sorted(r.kind for r in got) == ["200 CANCEL", "487 INVITE"]
    final = [r for r in got if r.kind == "487 INVITE"][0]
    started, ended = h.events
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert started.route == "none" and started.account.credit_account == "prepaid-1"
    assert (ended.status, ended.hangup, ended.cause) == (487, "caller", "cancelled by caller")
    h.a.ack_failure(final.response)
    h.answer_check(CreditCheck(ok=True, reason="ok"))  # too late: nothing starts
    assert h.gw.take() == [] and len(h.events) == 2 and h.a.take() == []
    h.settle()


def test_harness_retransmission_during_the_check_starts_one_call() -> None:
    h = AdmissionHarness()
    prepaid_call(h)
    inv = h.a.invite_sent
    assert inv is not None
    h.a.send(inv)  # the caller's retransmission: absorbed by the server transaction
    h.a.send(inv)
    assert len(h.checks) == 1 and h.events == []
    h.answer_check(CreditCheck(ok=True, reason="ok"))
    inv = h.gw.expect_one("INVITE")
    h.a.send(h.a.invite_sent)  # and once more after it started: still one call
    assert len([e for e in h.events if isinstance(e, CallStarted)]) == 1 and h.gw.take() == []
    h.gw.respond(inv.request, 486)
    h.gw.expect("ACK")
    final = [r for r in h.a.take() if r.kind == "486 INVITE"]
    assert len(final) == 1
    h.a.ack_failure(final[0].response)
    h.settle()


def test_a_locked_phone_still_reaches_emergency_and_its_office_is_not_locked() -> None:
    adm = machine()
    for _ in range(3):
        start(call(adm, f"99999**{LONG}"))
    assert adm.lockouts == 1
    s = start(call(adm, f"12345**{LONG}", 1.0))
    assert s.route.reason == LOCKED_REASON
    emergency = start(call(adm, "911", 2.0))  # the same locked phone
    assert emergency.route.kind == "trunk" and emergency.route.emergency
    # another phone behind the same (NAT) address is not locked with it
    other = start(adm.handle(received(signed(adm, f"12345**{LONG}", 3.0, user="1002", password="pw1002",
                                             from_user="1002")), 3.0))
    assert other.route.kind == "trunk" and other.account.code == "12345"


def test_a_good_code_between_guesses_does_not_reset_the_count() -> None:
    adm = machine()
    for n in range(3):
        start(call(adm, f"9999{n}**{LONG}", float(n)))
        if n < 2:
            assert start(call(adm, f"12345**{LONG}", n + 0.5)).route.kind == "trunk"
    assert adm.lockouts == 1
    assert start(call(adm, f"12345**{LONG}", 4.0)).route.reason == LOCKED_REASON


def test_short_numbers_that_route_to_a_trunk_are_outside_calls() -> None:
    adm = machine(groups={**GROUPS, "default": GroupPolicy(mode=Mode.MANDATORY, validation=Validation.LIST)})
    s = start(call(adm, "11880"))  # not an extension: a premium directory via the carrier
    assert (s.route.kind, s.route.status) == ("none", 403)
    ok = start(call(adm, "12345**11880", 1.0))
    assert ok.route.kind == "trunk" and ok.account.code == "12345"


# -- credential guessing (digest passwords) ------------------------------------------------------


def guess(adm: Admission, dialed: str, now: float, password: str, *, user: str = "1001",
          source: Address = PHONE) -> Command:
    """One INVITE signed with ``password`` on a fresh challenge: its only answer."""
    (cmd,) = adm.handle(received(signed(adm, dialed, now, user=user, password=password, from_user=user,
                                        source=source)), now)
    return cmd


def wrong_password_answer(cmd: Command) -> bool:
    return isinstance(cmd, SendResponse) and (cmd.status, cmd.reason, cmd.headers) == (
        403, "Authentication failed", ())


def test_password_guessing_locks_the_user_at_that_address_with_the_same_answer() -> None:
    adm = machine(groups={})
    for n in range(12):
        assert wrong_password_answer(guess(adm, "1002", float(n), f"guess{n}"))
    assert adm.guard.lockouts == 1
    # the right password now gets exactly the answer of a wrong one
    right = guess(adm, "1002", 20.0, "pw1001")
    assert wrong_password_answer(right)
    assert adm.guard.refusals == 1
    # the same phone still reaches emergency
    emergency = start(adm.handle(received(signed(adm, "911", 21.0)), 21.0))
    assert emergency.route.kind == "trunk" and emergency.route.emergency
    # another user at the same address is not locked, nor this user elsewhere
    other = start(adm.handle(received(signed(adm, "1001", 22.0, user="1002", password="pw1002",
                                             from_user="1002")), 22.0))
    assert other.route == Route(kind="extension", destination="1001")
    elsewhere = Address("udp", "192.0.2.99", 5060)
    assert start(adm.handle(received(signed(adm, "1002", 23.0, source=elsewhere)), 23.0)).route.kind == "extension"


def test_password_lockout_ends_and_grows_with_repeats() -> None:
    guard = CredentialGuard(Lockout(3, 600.0, 60.0, growth=2.0, max_lockout_s=200.0))
    adm = machine(groups={}, guard=guard)
    for n in range(3):
        guess(adm, "1002", float(n), "wrong")
    assert wrong_password_answer(guess(adm, "1002", 61.0, "pw1001"))  # locked for 60 s from t=2
    assert isinstance(guess(adm, "1002", 63.0, "pw1001"), StartCall)  # over
    for n in range(3):
        guess(adm, "1002", 100.0 + n, "wrong")
    assert wrong_password_answer(guess(adm, "1002", 200.0, "pw1001"))  # second lock: 120 s
    assert isinstance(guess(adm, "1002", 223.0, "pw1001"), StartCall)
    assert guard.lockouts == 2


def test_register_is_guarded_too() -> None:
    auth = DigestServer("b2bua", b"secret", 300.0, algorithms=("MD5",))
    guard = CredentialGuard(Lockout(2, 600.0, 60.0))
    users = {u.auth_name: u for u in USERS}

    def register(password: str, now: float) -> Extension | SendResponse:
        ev = invite("1001")
        chal = authenticate(auth, users, ev, 401, now, guard=guard)
        assert isinstance(chal, SendResponse) and chal.status == 401
        values = [v for _, k, v in chal.headers if k == "www-authenticate"]
        value = authorization_for_challenges(values, "INVITE", f"sip:1001@{LOCAL.host}", "1001", password, "c")
        return authenticate(auth, users, invite("1001", extra=[("Authorization", value)]), 401, now, guard=guard)

    assert isinstance(register("pw1001", 0.0), Extension)
    register("x", 1.0)
    register("y", 2.0)
    locked = register("pw1001", 3.0)
    assert isinstance(locked, SendResponse) and (locked.status, locked.reason) == (403, "Authentication failed")
    assert guard.lockouts == 1 and guard.refusals == 1


def test_guard_is_on_by_default_within_ten_failures_in_ten_minutes() -> None:
    adm = machine(groups={})
    assert adm.guard.lockout is not None
    assert adm.guard.lockout.max_failures <= 10 and adm.guard.lockout.window_s >= 600.0


# -- trunk trust: digest, TCP only, no transit ---------------------------------------------------

PBX_TCP = Address("tcp", PBX_ADDR.host, 40000)


def with_trunks(adm: Admission, *trunks: Trunk) -> Admission:
    adm.router = Router(USERS, [CARRIER, *trunks], ROUTES, emergency=frozenset(PLAN.emergency))
    return adm


def test_a_trunk_may_require_digest_authentication() -> None:
    pbx = Trunk(name="pbx", host=PBX_ADDR.host, inbound=(f"{PBX_ADDR.host}/32",), dids={"5551001": "1001"},
                username="pbxuser", password="pbxsecret", inbound_auth="digest")
    adm = with_trunks(machine(), pbx)
    (chal,) = adm.handle(received(invite("5551001", source=PBX_ADDR)), 0.0)  # a forged INVITE gets no call
    assert isinstance(chal, SendResponse) and chal.status == 401 and chal.stateless
    wrong = guess(adm, "5551001", 1.0, "guess", user="pbxuser", source=PBX_ADDR)
    assert wrong_password_answer(wrong)
    s = start(adm.handle(received(signed(adm, "5551001", 2.0, user="pbxuser", password="pbxsecret",
                                         from_user="2125550000", source=PBX_ADDR)), 2.0))
    assert s.route == Route(kind="extension", destination="1001") and s.caller_user == "trunk:pbx"
    assert s.caller == "2125550000"
    # a phone's credentials are not the trunk's
    (phone,) = adm.handle(received(signed(adm, "5551001", 3.0, source=PBX_ADDR)), 3.0)
    assert wrong_password_answer(phone)


def test_a_trunk_may_accept_tcp_only() -> None:
    pbx = Trunk(name="pbx", host=PBX_ADDR.host, inbound=(f"{PBX_ADDR.host}/32",), dids={"5551001": "1001"},
                inbound_transport="tcp")
    adm = with_trunks(machine(), pbx)
    (refused,) = adm.handle(received(invite("5551001", source=PBX_ADDR)), 0.0)  # UDP: spoofable
    assert isinstance(refused, SendResponse) and refused.status == 403
    s = start(adm.handle(received(invite("5551001", source=PBX_TCP)), 0.0))
    assert s.route == Route(kind="extension", destination="1001")


def test_a_trunk_with_a_group_reaches_no_trunk_without_allow_transit() -> None:
    pbx = Trunk(name="pbx", host=PBX_ADDR.host, inbound=(f"{PBX_ADDR.host}/32",), dids={"5551001": "1001"},
                group="default", pass_account_code=True)
    adm = with_trunks(machine(), pbx)
    for dialed in (LOCAL_NUMBER, "911"):
        s = start(adm.handle(received(invite(dialed, source=PBX_ADDR)), 0.0))
        assert (s.route.kind, s.route.status, s.route.reason) == ("none", 403, TRANSIT_REFUSED), dialed
    coded = start(adm.handle(received(invite(LONG, source=PBX_ADDR, extra=[("X-Account-Code", "12345")])), 0.0))
    assert coded.route.kind == "none" and coded.route.reason == TRANSIT_REFUSED
    assert start(adm.handle(received(invite("1002", source=PBX_ADDR)), 0.0)).route.kind == "extension"
    assert start(adm.handle(received(invite("5551001", source=PBX_ADDR)), 0.0)).route.kind == "extension"


def test_a_trunk_without_a_group_reaches_dids_only() -> None:
    adm = machine()
    for dialed in (LOCAL_NUMBER, "92125551234", "911", "1002"):
        s = start(adm.handle(received(invite(dialed, source=CARRIER_ADDR)), 0.0))
        assert s.route.kind == "none" and s.route.trunk is None, dialed
    transit = machine()  # without a group, allow_transit does not make it call out
    transit.router = Router(USERS, [msgspec.structs.replace(CARRIER, allow_transit=True)], ROUTES)
    assert start(transit.handle(received(invite(LOCAL_NUMBER, source=CARRIER_ADDR)), 0.0)).route.kind == "none"


# -- secrets in logs and records -------------------------------------------------------------------


def test_codes_reach_no_log_and_no_dialed_field(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    adm = machine()
    s = start(call(adm, f"12345**{LONG}"))
    assert s.dialed == LONG and s.account.code == "12345"  # account codes stay visible in the record
    for n in range(4):  # wrong codes, then the lockout
        s = start(call(adm, f"9876{n}**{LONG}", float(n)))
        assert s.dialed == LONG and "9876" not in s.account.code
    fac = start(call(machine(), f"*8898765{LONG}"))  # fixed-length FAC form, invalid code
    assert fac.dialed == LONG
    restricted = start(call(machine(), f"55555**{LONG}", user="lobby", password="pwlobby"))
    assert restricted.dialed == LONG
    text = caplog.text
    for secret in ("12345", "98760", "98761", "98762", "98763", "98765"):
        assert secret not in text, secret


def test_credit_check_names_the_number_not_the_code() -> None:
    d = checking(machine()).request
    assert d.dialed == LONG and "31337" not in d.dialed


def test_authorization_codes_in_admission(caplog: pytest.LogCaptureFixture) -> None:
    salt = bytes(16)
    table = AuthCodeTable(salt, [AuthCode(id=1, digest=hash_code("246810", salt), description="Night manager",
                                          level=3)])
    groups = {**GROUPS, "default": msgspec.structs.replace(
        GROUPS["default"], auth_fac="*77", auth_classes=frozenset({CallClass.INTERNATIONAL}))}
    adm = machine(groups=groups)
    adm.policy = msgspec.structs.replace(adm.policy, auth_codes=table)
    caplog.set_level("DEBUG")
    intl = "011442071234567"
    assert start(call(adm, intl)).route.reason.startswith("Authorization code required")
    ok = start(call(adm, f"*77246810%23{intl}", 1.0))
    assert ok.route.kind == "trunk" and ok.dialed == intl
    assert (ok.account.authorization, ok.account.authorization_level, ok.account.code) == ("Night manager", 3, "")
    for n in range(3):  # wrong authorization codes lock the extension like wrong account codes
        bad = start(call(adm, f"*7711111{n}%23{intl}", 2.0 + n))
        assert bad.route.reason == "Invalid authorization code" and bad.dialed == intl
    assert adm.lockouts == 1
    assert "246810" not in caplog.text and "111110" not in caplog.text


def test_failed_authentication_logs_no_code(caplog: pytest.LogCaptureFixture) -> None:
    adm = machine()
    for dialed in (f"12345**{LONG}", f"*8812345%23{LONG}"):
        assert wrong_password_answer(guess(adm, dialed, 0.0, "wrong"))
    assert "authentication failed for INVITE" in caplog.text and "12345" not in caplog.text


def test_harness_cdr_dst_is_the_number_without_the_code() -> None:
    h = AdmissionHarness()
    h.authorized_invite(f"99999**{LONG}")  # an invalid code: refused, recorded
    r = h.a.expect_one("403 INVITE")
    h.a.ack_failure(r.response)
    builder = CdrBuilder(wall_offset=0.0)
    writes = [w for e in h.events for w in builder.handle(e)]
    record = export_record(writes[-1].cdr)
    assert record["dst"] == LONG and "99999" not in str(record)
    h.settle()


@pytest.mark.parametrize("credit", [True, False])
def test_a_prepaid_code_may_call_an_extension_without_a_credit_check(credit: bool) -> None:
    """Internal calls are not charged to a credit account: no check, no refusal, even
    when credit control is unavailable; the record still names the account."""
    s = start(call(machine(credit=credit), "31337**1002"))
    assert (s.route.kind, s.route.destination) == ("extension", "1002")
    assert s.account.credit_account == "prepaid-1"
