"""One side of a call (sans-IO): a UAS leg (the caller's, A) or a UAC leg (a B fork).

Theory of operation
-------------------
A :class:`Leg` holds its INVITE (and the id of that INVITE's transaction),
its dialog once one exists, and what it still owes or waits for:

* as UAS, the final answer to A's INVITE (:meth:`Leg.respond`); a 2xx is
  resent at T1, 2*T1 ... capped at T2 until the ACK comes, and after 64*T1
  without one the call is torn down (RFC 3261 §13.3.1.4,
  :meth:`Leg.start_2xx_retransmit`);
* as UAC, the ACK of a 2xx (§13.2.2.4, :meth:`Leg.ack`), sent along the
  route set and resent as is when the 2xx is retransmitted
  (:meth:`Leg.ack_again`); when the 2xx carried the offer, the ACK waits for
  the answer in the other side's ACK (``ack_cseq``, :meth:`Leg.on_ack`),
  and when that ACK never comes (or the call ends first) the offer is
  answered with every stream rejected before the BYE (§13.2.2.4,
  :meth:`Leg.ack_rejecting`);
* in-dialog requests of its own (:meth:`Leg.send_request`): BYE (held back
  while our 2xx on this leg is not ACKed, RFC 3261 §15: it goes when the ACK
  comes, or when the 2xx retransmissions give up, 64*T1 at most), and the
  session refresh of RFC 4028 (UPDATE where the peer allows it, else
  OPTIONS) every half interval (:meth:`Leg.schedule_refresh`).

Reliable provisional responses (RFC 3262) keep their state in ``Leg.rel``
(:mod:`b2bua.calls.prack`); ``respond`` stops their retransmission with the
final answer (a 2xx waits for the PRACK of one with SDP), and :meth:`Leg.hop` sends along an early dialog's route set.


The server's own answers and offers on a leg (answering A with the
server's SDP, early media, re-offers, bridging) are
:mod:`b2bua.calls.offers`; a leg keeps what they need: ``local_sdp`` (the
session the peer holds from the server, once the server spoke SDP on this
leg) and ``offer`` (the server's own offer in flight, at most one).

Every leg of a manager acts through one :class:`CallCore`: the endpoint,
identifiers, settings, the call-layer timers, the index of transactions and
dialogs, our own addresses, and the manager's teardown.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Callable

from b2bua.sip.build import IdSource, make_response
from b2bua.sip.dialog import Dialog
from b2bua.sip.endpoint import Address, Endpoint, RequestReceived
from b2bua.sip.errors import ParseError
from b2bua.sip.headers import quote
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.uri import USER_CHARS, escape, format_host

from . import sdp
from .call import Call, CallIndex, CallState, Settings
from .sdp import SessionDescription
from .timers import Timer, Timers

if TYPE_CHECKING:  # the server's offers act on legs
    from .offers import OwnOffer

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK"  # what our legs accept in a dialog
MIN_SE = 90  # seconds, RFC 4028 §4


class CallCore:
    """The services every leg and relay of one manager acts through."""

    __slots__ = ("endpoint", "ids", "s", "timers", "index", "local", "teardown")

    def __init__(
        self,
        endpoint: Endpoint,
        ids: IdSource,
        settings: Settings,
        index: CallIndex,
        local: Callable[[str], Address],
        teardown: Callable[..., None],
    ) -> None:
        self.endpoint = endpoint
        self.ids = ids
        self.s = settings
        self.timers = Timers()
        self.index = index
        self.local = local
        # teardown(call, now, *, cause, hangup, dead=None): the manager's
        self.teardown = teardown

    def reply(
        self,
        event: RequestReceived,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        extra: list[Header] | None = None,
    ) -> None:
        """Answer a request statelessly from the call's point of view: Server
        header and a fresh To tag on anything but 100 (RFC 3261 §8.2.6)."""
        if event.transaction_id is None:
            return
        headers = [header("Server", self.s.user_agent), *(extra or [])] if status > 100 else []
        resp = make_response(
            event.request, status, reason, to_tag=self.ids.tag() if status > 100 else None, headers=headers
        )
        self.endpoint.send_response(event.transaction_id, resp, now)

    def contact(self, flow: Address) -> str:
        """Our Contact towards a peer reached over ``flow``'s transport."""
        return contact_uri(self.local(flow.transport))


class LegState(enum.Enum):
    TRYING = "trying"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Leg:
    """One side of a call: a dialog (once it exists) and its INVITE transaction."""

    __slots__ = (
        "core",
        "call",
        "uas",
        "state",
        "invite",
        "invite_txn",
        "dialog",
        "flow",
        "to_tag",
        "allows_update",
        "pending",
        "final",
        "acked",
        "retransmit",
        "ack_cseq",
        "ack_offer",
        "last_ack",
        "sent",
        "refresh",
        "auth_tried",
        "rel",
        "bye_deferred",
        "local_sdp",
        "offer",
    )

    def __init__(
        self, core: CallCore, call: Call, uas: bool, invite: Request, invite_txn: str, flow: Address
    ) -> None:
        self.core = core
        self.call = call
        self.uas = uas
        self.state = LegState.TRYING
        self.invite = invite
        self.invite_txn = invite_txn
        self.dialog: Dialog | None = None
        self.flow = flow
        self.to_tag = ""
        self.allows_update = False
        # transactions relayed from the other leg and waiting for our answer:
        # client txn id here -> (server txn id on the other leg, its request)
        self.pending: dict[str, tuple[str, Request]] = {}
        self.final: Response | None = None  # B legs: the final response received
        self.acked = True
        self.retransmit: Timer | None = None  # our 2xx, resent until the ACK
        self.ack_cseq: int | None = None  # B: ACK for this INVITE CSeq waits for A's ACK body
        self.ack_offer = b""  # the offer in the 2xx that ``ack_cseq`` waits to answer
        self.last_ack: Request | None = None  # resent as is when the 2xx is retransmitted
        self.sent: list[str] = []  # in-dialog client txns towards this leg (keys of CallIndex.relays)
        self.refresh: Timer | None = None
        self.auth_tried = False
        self.rel: Any = None  # reliable provisionals (RFC 3262): calls.prack's state for this leg
        self.bye_deferred = False  # a BYE waits for the ACK of our 2xx (RFC 3261 §15)
        self.local_sdp: SessionDescription | None = None  # the server's session towards this peer
        self.offer: OwnOffer | None = None  # the server's own offer in flight on this leg

    @property
    def other(self) -> "Leg | None":
        call = self.call
        return call.b if self.uas else call.a

    def invite_again(self, credentials: Header) -> Request:
        """This (UAC) leg's INVITE with ``credentials`` and the next CSeq, for a
        new transaction after a 401/407 (RFC 3261 §22.2)."""
        old = self.invite
        cseq = old.cseq.number + 1
        headers = [
            header("CSeq", f"{cseq} INVITE") if h[1] == "cseq" else h
            for h in old.headers
            if h[1] not in ("via", "authorization", "proxy-authorization")
        ]
        headers.append(credentials)
        return Request("INVITE", old.uri, headers, old.body)

    def granted_session_expires(self) -> int | None:
        """The interval to grant this (UAS) leg, refresher the caller, when it
        asked for session timers and supports them (RFC 4028 §9); None when it
        did not: then our own refreshes keep watch on that leg."""
        value = session_expires(self.invite)
        supported = {t.strip().lower() for v in self.invite.get_all("supported") for t in v.split(",")}
        if value is None or "timer" not in supported:
            return None
        return max(value, MIN_SE)

    def next_hop(self) -> Address:
        assert self.dialog is not None
        return self.hop(self.dialog)

    def hop(self, dialog: Dialog) -> Address:
        """Where a request of ``dialog`` (this leg's, or an early one) goes."""
        hop = dialog.next_hop()
        if hop is None:
            return self.flow
        host, port, transport = hop
        return Address(transport, host, port or 5060)

    # -- as UAS: answering our INVITE --------------------------------------------------
    def respond(
        self,
        status: int,
        now: float,
        *,
        body: bytes = b"",
        extra: list[Header] | None = None,
        reason: str | None = None,
    ) -> Response:
        """Answer this (UAS) leg's INVITE with our To tag."""
        assert self.uas
        headers: list[Header] = []
        if status != 100:
            if 100 < status < 300:
                # §12.1.1: a response that creates the dialog copies the Record-Route
                headers.extend(h for h in self.invite.headers if h[1] == "record-route")
                headers.append(header("Contact", self.core.contact(self.flow)))
            headers.append(header("Server", self.core.s.user_agent))
        if extra:
            headers.extend(extra)
        resp = make_response(self.invite, status, reason, to_tag=self.to_tag, headers=headers, body=body)
        if status >= 200 and self.rel is not None and not self.rel.final_ready(resp, now):
            return resp  # RFC 3262 §3: this 2xx waits for the PRACK of a provisional with SDP
        self.core.endpoint.send_response(self.invite_txn, resp, now)
        return resp

    def answer_invite(
        self, now: float, *, body: bytes = b"", content_type: str | None = None, reason: str | None = None
    ) -> Response:
        """Answer this (UAS) leg's INVITE 200: the dialog is created, Allow and
        the granted Session-Expires go with it (RFC 4028 §9), and the 2xx is
        resent until the ACK comes."""
        self.dialog = Dialog.from_uas(self.invite, self.to_tag, self.core.contact(self.flow), self.flow, self.core.s.user_agent)
        self.state = LegState.CONFIRMED
        extra: list[Header] = [header("Allow", ALLOW)]
        if self.core.s.recv_info:
            extra.append(header("Recv-Info", ", ".join(self.core.s.recv_info)))
        se = self.granted_session_expires()
        if se:
            extra += [header("Session-Expires", f"{se};refresher=uac"), header("Require", "timer")]
        if body:
            extra.append(header("Content-Type", content_type or "application/sdp"))
        out = self.respond(200, now, body=body, extra=extra, reason=reason)
        self.start_2xx_retransmit(self.invite_txn, out, now)
        return out

    def start_2xx_retransmit(self, txn: str, resp: Response, now: float) -> None:
        """RFC 3261 §13.3.1.4: resend the 2xx at T1, 2T1 ... (capped at T2) until
        the ACK arrives; give up after 64*T1 and end the call."""
        self.acked = False
        if self.retransmit is not None:
            self.retransmit.cancel()
        t1 = self.core.s.t1
        give_up = now + 64 * t1
        self.retransmit = self.core.timers.schedule(now + t1, self._retransmit_2xx, txn, resp, t1, give_up)

    def _retransmit_2xx(self, now: float, txn: str, resp: Response, interval: float, give_up: float) -> None:
        self.retransmit = None
        call = self.call
        if self.acked or (self.state is LegState.TERMINATED and not self.bye_deferred) or call is None:
            return
        core = self.core
        if now >= give_up and self.bye_deferred:
            self.bye_now(now)  # no ACK will come: the BYE waited long enough
            return
        if now >= give_up:
            core.teardown(call, now, cause="no ACK for 2xx", hangup="server")
            return
        if self.rel is None or not self.rel.holding(resp):
            core.endpoint.send_response(txn, resp, now)
        nxt = min(interval * 2, core.s.t2)
        # the last wait is cut short so that the call ends at 64*T1, not after it
        at = min(now + nxt, give_up)
        self.retransmit = core.timers.schedule(at, self._retransmit_2xx, txn, resp, nxt, give_up)

    def on_ack(self, req: Request, now: float) -> None:
        """The ACK of our 2xx came: stop resending it, send the BYE that waited
        for it; if the other side's 2xx made the offer, this ACK carries the
        answer: ACK the other side now."""
        if self.call is None:
            return
        self.acked = True
        if self.retransmit is not None:
            self.retransmit.cancel()
            self.retransmit = None
        if self.bye_deferred:
            self.bye_now(now)
        other = self.other
        if other is None or other.dialog is None or other.ack_cseq is None:
            return
        ctype = req.get("content-type") or "application/sdp"
        cseq, other.ack_cseq, other.ack_offer = other.ack_cseq, None, b""
        other.ack(cseq, body=req.body, content_type=ctype if req.body else None)

    # -- as UAC: acknowledging a 2xx -----------------------------------------------------
    def await_answer(self, cseq: int, offer: bytes) -> None:
        """The 2xx to our INVITE ``cseq`` made the offer ``offer``: its ACK waits
        for the answer the other side's ACK brings (:meth:`on_ack`)."""
        self.ack_cseq = cseq
        self.ack_offer = offer

    def ack(self, cseq: int, *, body: bytes = b"", content_type: str | None = None) -> None:
        """The ACK for a 2xx on this leg, along its route set (§13.2.2.4, §12.2.1.1)."""
        assert self.dialog is not None
        ack = self.dialog.ack(cseq, body=body, content_type=content_type)
        self.core.endpoint.send_stateless(ack, self.next_hop())  # adds the Via, kept for resending
        self.last_ack = ack

    def ack_rejecting(self) -> None:
        """ACK a 2xx whose offer no answer came for (the caller never ACKed, or the
        call ended first): RFC 3261 §13.2.2.4 wants a valid answer in the ACK even
        when the offer is not acceptable, then a BYE.  The answer keeps one line
        per offered stream, each rejected with port 0 (RFC 3264 §6), at our own
        address; an offer that is not SDP gets an ACK without a body."""
        cseq, self.ack_cseq = self.ack_cseq, None
        if cseq is None or self.dialog is None:
            return
        offer, self.ack_offer = self.ack_offer, b""
        try:
            offered = sdp.parse(offer) if offer else None
        except sdp.SdpError:
            offered = None
        if offered is None:
            self.ack(cseq)
            return
        # session id 0: this description is the last word of a session being torn down
        host = self.core.local(self.flow.transport).host
        rejected = sdp.answer(offered, address=host, port=0, session_id=0, codecs=())
        self.ack(cseq, body=sdp.build(rejected), content_type="application/sdp")

    def ack_again(self, cseq: int) -> None:
        """A 2xx came again: resend the same ACK (with the same answer, if any)."""
        ack = self.last_ack
        if ack is not None and self.dialog is not None and ack.cseq.number == cseq:
            self.core.endpoint.send_stateless(ack, self.next_hop())

    # -- in-dialog requests of our own ---------------------------------------------------
    def send_request(self, req: Request, now: float) -> str:
        """Send an in-dialog request on this leg; its responses come back to this leg."""
        txn = self.core.endpoint.send_request(req, self.next_hop(), now)
        self.core.index.add_relay(txn, self)
        return txn

    def send_bye(self, now: float) -> None:
        self.state = LegState.TERMINATED
        if self.dialog is None:
            return
        self.ack_rejecting()  # a 2xx offer still unanswered is ACKed first
        if not self.acked and self.retransmit is not None:
            # RFC 3261 §15: not before the ACK of our 2xx (on_ack), or the end of
            # its retransmissions (_retransmit_2xx), lest it overtake the ACK
            self.bye_deferred = True
            return
        self.bye_now(now)

    def bye_now(self, now: float) -> None:
        """Send the BYE, even one that waited for an ACK (the server is stopping)."""
        assert self.dialog is not None
        self.send_request(self.dialog.request("BYE"), now)
        self.drop_timers()

    def schedule_refresh(self, now: float) -> None:
        self.refresh = self.core.timers.schedule(now + self.core.s.session_interval / 2, self._refresh)

    def _refresh(self, now: float) -> None:
        """Session refresh (RFC 4028): UPDATE where the peer allows it, else an
        in-dialog OPTIONS; a 408/481 or no answer ends the call."""
        self.refresh = None
        call = self.call
        if self.state is not LegState.CONFIRMED or self.dialog is None or call is None or call.state is CallState.ENDED:
            return
        method = "UPDATE" if self.allows_update else "OPTIONS"
        interval = int(self.core.s.session_interval)
        extra = [header("Session-Expires", f"{interval};refresher=uac")] if method == "UPDATE" else []
        self.send_request(self.dialog.request(method, extra=extra), now)
        self.schedule_refresh(now)

    def drop_timers(self) -> None:
        """Forget what this leg still had to do: 2xx retransmissions, a refresh,
        a BYE waiting for an ACK."""
        for t in (self.retransmit, self.refresh):
            if t is not None:
                t.cancel()
        self.retransmit = self.refresh = None
        if self.rel is not None:
            self.rel.stop()
            self.rel = None  # the leg is done; its reliability state refers back to it
        self.bye_deferred = False


def fork_invite(
    core: CallCore,
    src: Request,
    ruri: str,
    flow: Address,
    *,
    caller: str,
    display: str,
    callee: str,
    extra: list[Header] | None = None,
) -> Request:
    """The INVITE of a new B leg towards ``ruri`` over ``flow``: a dialog of its
    own (fresh Call-ID and tag, CSeq 1), A's body, nothing of A's identity.

    ``caller``, ``display`` and ``callee`` may come from a peer: From and To
    are written by the serializers of URIs and name-addrs, so the user parts
    are escaped per the URI grammar and the display name is a quoted-string
    (RFC 3261 §25.1); what no escaping can carry (CR, LF, NUL) makes sending
    the INVITE raise :class:`~b2bua.sip.errors.UnsafeValue`."""
    local = core.local(flow.transport)
    mf = src.get("max-forwards")
    max_forwards = int(mf) - 1 if mf and mf.isdigit() else 69
    # what str(NameAddr(display, SipUri(user, host), tag)) writes, without the objects
    host = format_host(local.host)
    shown = f"{quote(display)} " if display else ""
    headers: list[Header] = [
        header("Max-Forwards", str(max(max_forwards, 0))),
        header("From", f"{shown}<sip:{escape(caller, USER_CHARS)}@{host}>;tag={core.ids.tag()}"),
        header("To", f"<sip:{escape(callee, USER_CHARS)}@{host}>"),
        header("Call-ID", core.ids.call_id()),
        header("CSeq", "1 INVITE"),
        header("Contact", contact_uri(local)),
        header("Allow", ALLOW),
        header("Supported", "timer"),
        header("Session-Expires", str(int(core.s.session_interval))),
        header("User-Agent", core.s.user_agent),
    ]
    if src.body:
        headers.append(header("Content-Type", src.get("content-type") or "application/sdp"))
    if extra:
        headers.extend(extra)
    return Request("INVITE", ruri, headers, src.body)


def allows_update(msg: Request | Response) -> bool:
    """Allow may come in several header lines (§7.3.1); an unreadable one allows nothing."""
    try:
        return any(m.strip().upper() == "UPDATE" for v in msg.get_all("allow") for m in v.split(","))
    except ParseError:
        return False


def session_expires(req: Request) -> int | None:
    """The delta-seconds of Session-Expires, or None when absent or unreadable."""
    value = req.get("session-expires")
    if not value:
        return None
    delta = value.split(";", 1)[0].strip()
    return int(delta) if delta.isdigit() and len(delta) <= 9 else None


def bracket_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def contact_uri(local: Address) -> str:
    t = f";transport={local.transport}" if local.transport != "udp" else ""
    return f"<sip:b2bua@{bracket_host(local.host)}:{local.port}{t}>"
