"""Mid-call account codes (b2bua.calls.midcall) on virtual time: every answer,
and the far end receiving nothing of it."""

from __future__ import annotations

import datetime
from typing import Any

from b2bua.calls.admission import LOCKED_REASON, Admission, Policy, SendResponse
from b2bua.calls.call import Settings
from b2bua.calls.events import AccountInfo, CodeChanged
from b2bua.calls.midcall import MidCallCodes
from b2bua.calls.midcall_parse import BODY_TYPE, PACKAGE, parse_code, parse_digit, parse_target_dialog
from b2bua.calls.routing import Extension, Route, Router, Trunk
from b2bua.sip.digest import DigestServer, authorization_for_challenges
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import Request, header
from dialplan import CodeSource, GroupPolicy, Lockout, Mode
from dialplan.codes import AccountCode
from dialplan.numbering import CallClass, ExtensionPlan, NorthAmericanPlan
from dialplan.policy import Validation

from .harness import A_ADDR, LOCAL, SDP_A, SDP_B, Harness

TODAY = datetime.date(2026, 12, 3)
LONG = "2125551234"
USERS = [
    Extension(extension="1001", auth_name="1001", password="pw1001", group="default"),
    Extension(extension="1002", auth_name="1002", password="pw1002", group="default"),
]
CARRIER = Trunk(name="carrier", host="192.0.2.40")
GROUPS = {"default": GroupPolicy(mode=Mode.OPTIONAL, code_length=5, validation=Validation.LIST)}
CODES = {
    "12345": AccountCode(code="12345", name="Acme", rate_plan="gold"),
    "22222": AccountCode(code="22222", name="Local only", allowed_classes=frozenset({CallClass.LOCAL})),
    "33333": AccountCode(code="33333", name="Old", active=False),
    "44444": AccountCode(code="44444", name="Prepaid", credit_account="prepaid-1"),
}
PLAN = NorthAmericanPlan(home_area_code="801", extensions=ExtensionPlan(numbers=frozenset({"1001", "1002"})))
OLD = AccountInfo(code="55555", source=CodeSource.ASSIGNED, valid=True, call_class="long_distance")


class Directory:
    def for_group(self, group: str, /) -> Any:
        return CODES


def rig(*, trunk: bool = True, account: AccountInfo = OLD) -> tuple[Harness, MidCallCodes]:
    route = Route(kind="trunk", destination=LONG, trunk=CARRIER) if trunk else Route(kind="extension", destination="1002")
    h = Harness(Settings(recv_info=(PACKAGE,)), route=route)
    auth = DigestServer("b2bua", b"secret", 300.0, algorithms=("MD5",))
    router = Router(USERS, [CARRIER], [], emergency=frozenset(PLAN.emergency))
    adm = Admission(USERS, auth, router, Policy(groups=GROUPS, plan=PLAN, codes=Directory()), Lockout(3, 300.0, 900.0))
    mc = MidCallCodes(h.manager, adm, lambda: TODAY)
    h.manager.midcall = mc
    h.call_args = {"group": "default", "account": account}
    return h, mc


def far(h: Harness) -> Any:
    return h.gw if h.route.kind == "trunk" else h.b


def connect(h: Harness) -> None:
    h.a.invite(SDP_A, callee=h.route.destination)
    h.a.expect("100 INVITE")
    b = far(h)
    inv = b.expect_one("INVITE").request
    b.respond(inv, 200, SDP_B)
    b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.get("recv-info") == PACKAGE  # RFC 6086: the package we take from the caller
    h.a.ack(ok)
    h.events.clear()


def hang_up(h: Harness) -> None:
    h.a.request("BYE")
    h.a.expect("200 BYE")
    b = far(h)
    b.respond(b.expect_one("BYE").request, 200)
    h.settle()


def changes(h: Harness) -> list[CodeChanged]:
    return [e for e in h.events if isinstance(e, CodeChanged)]


def test_info_package_sets_the_code_and_the_far_end_sees_nothing() -> None:
    h, mc = rig()
    connect(h)
    h.a.request("INFO", b"code=12345\r\n", content_type=BODY_TYPE, extra=[header("Info-Package", PACKAGE)])
    ok = h.a.expect_one("200 INFO").response
    assert ok.to.tag == h.a.remote_tag
    assert far(h).inbox == []
    (ch,) = changes(h)
    assert ch.account.code == "12345" and ch.account.source is CodeSource.INFO_PACKAGE and ch.set_by == "1001"
    assert ch.account.rate_plan == "gold" and ch.account.valid is True and ch.at == h.now
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "BYE"]  # nothing caused by the code


def test_legacy_info_without_package() -> None:
    h, _ = rig()
    connect(h)
    h.a.request("INFO", b"12345", content_type=BODY_TYPE)
    h.a.expect("200 INFO")
    (ch,) = changes(h)
    assert ch.account.source is CodeSource.INFO and ch.account.code == "12345"
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "BYE"]


def test_refusals_name_the_rule_and_keep_the_old_code() -> None:
    h, mc = rig()
    connect(h)
    for body, status, reason in [
        (b"code=99999", 403, "Invalid account code"),  # unknown
        (b"code=33333", 403, "Invalid account code"),  # inactive: the same answer
        (b"code=22222", 403, "Account code ***22 may not make long distance calls"),  # restricted here
        (b"code=44444", 403, "Account code of another credit account"),  # prepaid code, no credit check
        (b"code=", 400, "No account code in the body"),
    ]:
        h.a.request("INFO", body, content_type=BODY_TYPE, extra=[header("Info-Package", PACKAGE)])
        resp = h.a.expect_one(f"{status} INFO").response
        assert resp.reason == reason, (body, resp.reason)
    h.a.request("INFO", b"code=12345", content_type="text/plain", extra=[header("Info-Package", PACKAGE)])
    assert BODY_TYPE in (h.a.expect_one("415 INFO").response.get("accept") or "")  # the endpoint's check
    assert changes(h) == [] and far(h).inbox == []
    assert mc.refused == 4
    hang_up(h)


def test_wrong_codes_count_towards_the_lockout() -> None:
    h, mc = rig()
    connect(h)
    for _ in range(3):
        h.a.request("INFO", b"code=99999", content_type=BODY_TYPE)
        h.a.expect("403 INFO")
    h.a.request("INFO", b"code=12345", content_type=BODY_TYPE)  # right, but locked
    assert h.a.expect_one("403 INFO").response.reason == LOCKED_REASON
    assert changes(h) == [] and mc.admission.lockouts == 1
    hang_up(h)


def test_package_from_the_callee_is_469_and_legacy_403() -> None:
    h, _ = rig()
    connect(h)
    h.gw.request("INFO", b"code=12345", content_type=BODY_TYPE, extra=[header("Info-Package", PACKAGE)])
    resp = h.gw.expect_one("469 INFO").response
    assert resp.reason == "Bad Info Package" and resp.get("recv-info") == ""
    h.gw.request("INFO", b"code=12345", content_type=BODY_TYPE)
    h.gw.expect("403 INFO")
    assert h.a.inbox == [] and changes(h) == []
    hang_up(h)


def test_other_packages_and_dtmf_without_vsc_are_relayed() -> None:
    h, _ = rig()
    connect(h)
    h.a.request("INFO", b"Signal=5\r\nDuration=160\r\n", content_type="application/dtmf-relay")
    got = h.gw.expect_one("INFO").request
    assert got.body == b"Signal=5\r\nDuration=160\r\n"
    h.gw.respond(got, 200)
    h.a.expect("200 INFO")
    hang_up(h)


# -- Target-Dialog (RFC 4538) -------------------------------------------------------------


def oob_info(h: Harness, mc: MidCallCodes, target: str, body: bytes = b"code=12345",
             user: str = "1001", password: str = "pw1001") -> Any:
    """An out-of-dialog INFO from A's address naming ``target``: challenged,
    then sent with credentials; returns the final answer."""
    def send(n: int, extra: list[Any]) -> Any:
        uri = f"sip:b2bua@{LOCAL.host}"
        req = Request("INFO", uri, [
            header("Via", f"SIP/2.0/UDP {A_ADDR.host}:{A_ADDR.port};branch=z9hG4bK-td{n}{user}{len(h.a.log)}"),
            header("Max-Forwards", "70"), header("From", f"<sip:{user}@{LOCAL.host}>;tag=td{n}"),
            header("To", uri and f"<sip:b2bua@{LOCAL.host}>"), header("Call-ID", f"td-{user}-{len(h.a.log)}@x"),
            header("CSeq", f"{n} INFO"), header("Target-Dialog", target), header("Require", "tdialog"),
            header("Content-Type", BODY_TYPE), *extra,
        ], body)
        h.a.send(req)
        (ev,) = h.unhandled
        h.unhandled.clear()
        assert isinstance(ev, RequestReceived) and mc.claims(ev)
        for cmd in mc.out_of_dialog(ev, h.now):
            assert isinstance(cmd, SendResponse)
            run(h, cmd)
        return h.a.take()[-1].response

    challenge = send(1, [])
    assert challenge.status == 401
    values = challenge.get_all("www-authenticate")
    value = authorization_for_challenges(values, "INFO", f"sip:b2bua@{LOCAL.host}", user, password, "cn")
    return send(2, [header("Authorization", value)])


def run(h: Harness, cmd: SendResponse) -> None:
    """What runtime/app.py does with a SendResponse."""
    from b2bua.sip.build import make_response

    assert cmd.event.transaction_id is not None
    if cmd.stateless:
        resp = make_response(cmd.event.request, cmd.status, cmd.reason, to_tag="x", headers=list(cmd.headers))
        h.endpoint.respond_statelessly(cmd.event.transaction_id, resp)
    else:
        h.manager.reply(cmd.event, cmd.status, h.now, reason=cmd.reason, extra=list(cmd.headers))
    h.pump()


def test_target_dialog_sets_the_code_of_the_users_call() -> None:
    h, mc = rig()
    connect(h)
    target = f"{h.a.call_id};local-tag={h.a.tag};remote-tag={h.a.remote_tag}"
    resp = oob_info(h, mc, target)
    assert resp.status == 200
    (ch,) = changes(h)
    assert ch.account.source is CodeSource.TARGET_DIALOG and ch.set_by == "1001"
    # the tags the other way round name the same dialog
    resp = oob_info(h, mc, f"{h.a.call_id};local-tag={h.a.remote_tag};remote-tag={h.a.tag}")
    assert resp.status == 200
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "BYE"]


def test_target_dialog_unknown_other_user_and_bad_password() -> None:
    h, mc = rig()
    connect(h)
    assert oob_info(h, mc, f"nosuch;local-tag={h.a.tag};remote-tag={h.a.remote_tag}").status == 481
    target = f"{h.a.call_id};local-tag={h.a.tag};remote-tag={h.a.remote_tag}"
    other = oob_info(h, mc, target, user="1002", password="pw1002")
    assert (other.status, other.reason) == (403, "Not your call")
    wrong = oob_info(h, mc, target, password="guess")
    assert (wrong.status, wrong.reason) == (403, "Authentication failed")
    assert oob_info(h, mc, "garbage").status == 400
    assert changes(h) == []
    hang_up(h)
    # the call is over: another user's request still finds nothing
    assert oob_info(h, mc, target, user="1002", password="pw1002").status == 481


def test_a_code_attached_after_the_call_within_the_window() -> None:
    """Post-call assignment: the caller's Target-Dialog request naming its ended call
    attaches the code to it (CodeChanged with post_call); once; not after the window."""
    h, mc = rig()
    connect(h)
    target = f"{h.a.call_id};local-tag={h.a.tag};remote-tag={h.a.remote_tag}"
    hang_up(h)
    resp = oob_info(h, mc, target)
    assert resp.status == 200
    (ch,) = changes(h)
    assert ch.post_call and ch.account.code == "12345" and ch.account.source is CodeSource.POST_CALL
    assert oob_info(h, mc, target).status == 481  # once only
    h2, mc2 = rig()
    connect(h2)
    target2 = f"{h2.a.call_id};local-tag={h2.a.tag};remote-tag={h2.a.remote_tag}"
    hang_up(h2)
    h2.advance(301)  # past the group's post_call_window (300 s)
    assert oob_info(h2, mc2, target2).status == 481


def test_parsers() -> None:
    assert parse_code(b" code=12345\r\n") == "12345" and parse_code(b"12345") == "12345"
    assert parse_code(b"code=12a45") is None and parse_code(b"\xff") is None and parse_code(b"") is None
    assert parse_digit(b"Signal=5\r\nDuration=100", "application/dtmf-relay") == "5"
    assert parse_digit(b"Signal=10\r\n", "application/dtmf-relay") == "*"
    assert parse_digit(b"Signal=16\r\n", "application/dtmf-relay") is None  # a flash
    assert parse_digit(b"#", "application/dtmf") == "#"
    assert parse_target_dialog("abc@h;local-tag=1;remote-tag=2") == ("abc@h", "1", "2")
    assert parse_target_dialog("abc@h;local-tag=1") is None


# -- INFO digits: *VSC code # ------------------------------------------------------------


def dtmf(h: Harness, digit: str) -> None:
    h.a.request("INFO", f"Signal={digit}\r\nDuration=160\r\n".encode(), content_type="application/dtmf-relay")


def key(h: Harness, digits: str) -> Any:
    """Key ``digits`` then ``#``: each digit answered 200 and held; the answer to ``#``."""
    connect(h)
    for d in digits:
        dtmf(h, d)
        h.a.expect("200 INFO")
    dtmf(h, "#")
    (got,) = h.a.take()
    return got.response


def test_feature_code_by_info_digits_is_not_relayed() -> None:
    h, _ = rig()
    assert key(h, "*8912345").status == 200
    assert h.gw.inbox == []
    (ch,) = changes(h)
    assert ch.account.code == "12345" and ch.account.source is CodeSource.DTMF_INFO
    h.advance(10)  # no timer left to flush anything
    assert h.gw.inbox == []
    hang_up(h)


def test_refused_feature_code_is_answered_403() -> None:
    h, _ = rig()
    resp = key(h, "*8999999")
    assert (resp.status, resp.reason) == (403, "Invalid account code")
    assert h.gw.inbox == [] and changes(h) == []
    hang_up(h)


def test_digits_that_are_no_feature_code_go_on_in_order() -> None:
    h, _ = rig()
    connect(h)
    dtmf(h, "*")
    dtmf(h, "8")
    h.a.expect("200 INFO", "200 INFO")
    assert h.gw.inbox == []
    dtmf(h, "5")  # *85: not *89
    got = h.gw.expect("INFO", "INFO", "INFO")
    assert [parse_digit(r.request.body, "application/dtmf-relay") for r in got] == ["*", "8", "5"]
    for r in got:
        h.gw.respond(r.request, 200)
    h.a.expect("200 INFO")  # the relayed one's answer; the held ones were answered already
    # an unfinished feature code goes on after the digit timeout
    dtmf(h, "*")
    h.a.expect("200 INFO")
    h.advance(4.9)
    assert h.gw.inbox == []
    h.advance(0.2)
    h.gw.respond(h.gw.expect_one("INFO").request, 200)
    assert changes(h) == []
    hang_up(h)


def test_keys_from_the_media_form_a_feature_code() -> None:
    """RFC 4733 keys seen in media kept through the server (runtime.prompts):
    *89 CODE # sets the code; its keys are held back from the callee; other keys
    pass; a code that is refused gets its status."""
    h, mc = rig()
    connect(h)
    (ref,) = list(h.manager.index.calls)
    assert mc.key(ref, "5", "192.0.2.10", h.now) == (False, None)  # not a feature code: passed on
    held = [mc.key(ref, k, "192.0.2.10", h.now) for k in "*8912345"]
    assert all(h_ == (True, None) for h_ in held), held
    assert mc.key(ref, "#", "192.0.2.10", h.now) == (True, 200)
    h.pump()  # (the runtime dispatches after each packet)
    (ch,) = changes(h)
    assert ch.account.code == "12345" and ch.account.source is CodeSource.RFC4733
    assert [mc.key(ref, k, "192.0.2.10", h.now) for k in "*8999999"][-1] == (True, None)
    assert mc.key(ref, "#", "192.0.2.10", h.now) == (True, 403)  # an unknown code
    assert mc.key(ref, "*", "192.0.2.10", h.now) == (True, None)
    assert mc.key(ref, "7", "192.0.2.10", h.now) == (True, None)  # "*7": not *89: that key is lost, as documented
    assert mc.key(ref, "1", "192.0.2.10", h.now) == (False, None)
    hang_up(h)
    assert mc.key(ref, "*", "192.0.2.10", h.now) == (False, None)  # the call is over
