"""A virtual-time rig for the call manager: one Endpoint + CallManager and
scripted SIP peers whose every message is written here, byte for byte.

Nothing waits: a peer's message is fed with ``Endpoint.receive``, the
endpoint's events go to ``CallManager.handle`` (or ``start_call`` for a new
INVITE, as b2bua/runtime/app.py does) until both queues are empty, the call
events the manager produced are collected after each step (``events``), and what
the endpoint sends is routed by destination address into the inbox of the
peer that owns that address.  Time moves only in :meth:`Harness.run_until`,
which fires the endpoint's and the manager's timers at exactly their
deadlines, like b2bua/transport/driver.py.

The peers are deliberately not built on b2bua.sip.dialog: they keep their
own dialog state (Call-ID, tags, CSeq, target, route set) so that a bug in
the dialog layer cannot hide itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from b2bua.calls.manager import CallManager, Settings
from b2bua.calls.events import CallEnded, CallEvent
from b2bua.calls.routing import Route
from b2bua.sip.build import CountingIds, make_response
from b2bua.sip.endpoint import Address, Endpoint, RequestReceived
from b2bua.sip.message import Header, Request, Response, SipMessage, header, parse_message

LOCAL = Address("udp", "192.0.2.1", 5060)  # the B2BUA
A_ADDR = Address("udp", "192.0.2.10", 5060)  # the caller's phone
B_ADDR = Address("udp", "192.0.2.20", 5060)  # the callee (first contact)
B2_ADDR = Address("udp", "192.0.2.21", 5060)  # the callee's second contact (forking)
B_PROXY = Address("udp", "192.0.2.30", 5060)  # a proxy in front of B that record-routes
GW_ADDR = Address("udp", "192.0.2.40", 5060)  # a carrier trunk (plays B on trunk routes)

EXTENSION = Route(kind="extension", destination="1002")


def sdp(media_ip: str, port: int = 4000, direction: str = "sendrecv", version: int = 1) -> bytes:
    """A small, valid SDP offer/answer; the media address is not a SIP address
    so that header checks can ignore bodies."""
    return (
        "v=0\r\n"
        f"o=- 1000 {version} IN IP4 {media_ip}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {media_ip}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        f"a={direction}\r\n"
    ).encode()


SDP_A = sdp("198.51.100.10", 4000)
SDP_B = sdp("198.51.100.20", 5000)
SDP_B2 = sdp("198.51.100.21", 6000)


def kind(msg: SipMessage) -> str:
    """"INVITE" for a request, "180 INVITE" for a response."""
    if isinstance(msg, Request):
        return msg.method
    return f"{msg.status} {msg.cseq.method}"


def head(data: bytes) -> bytes:
    """Start line and headers, without the body."""
    return data.split(b"\r\n\r\n", 1)[0]


@dataclass
class Received:
    """A datagram the B2BUA sent to a peer."""

    at: float
    data: bytes
    dest: Address
    msg: SipMessage

    @property
    def kind(self) -> str:
        return kind(self.msg)

    @property
    def request(self) -> Request:
        assert isinstance(self.msg, Request), self.msg
        return self.msg

    @property
    def response(self) -> Response:
        assert isinstance(self.msg, Response), self.msg
        return self.msg


def _without_tag(value: str) -> str:
    return ";".join(p for p in value.split(";") if not p.strip().startswith("tag="))


def _uri_of(name_addr: str) -> str:
    lt, gt = name_addr.find("<"), name_addr.find(">")
    return name_addr[lt + 1 : gt] if lt >= 0 else name_addr.split(";", 1)[0]


class Peer:
    """A scripted user agent: writes its own messages, keeps one dialog."""

    def __init__(self, rig: "Harness", name: str, addr: Address, user: str, user_agent: str) -> None:
        self.rig = rig
        self.name = name
        self.addr = addr
        self.user = user
        self.user_agent = user_agent
        self.inbox: list[Received] = []
        self.log: list[Received] = []  # everything ever received, for the isolation checks
        self._n = itertools.count(1)
        self.contact = f"<sip:{user}@{addr.host}:{addr.port}>"
        # dialog state (filled by invite()/answer() and the responses)
        self.call_id = f"{name.lower()}-call@{addr.host}"
        self.tag = f"{name.lower()}-tag"
        self.remote_tag: str | None = None
        self.local_uri = f"<sip:{user}@{LOCAL.host}>"
        self.remote_uri = ""
        self.cseq = 0
        self.remote_target = ""
        self.routes: list[str] = []
        self.invite_sent: Request | None = None  # the INVITE this peer sent (to CANCEL/ACK it)
        # the address each request reached (a proxy's, for B_PROXY): answered from there
        self.reached: dict[int, Address] = {}

    def __repr__(self) -> str:
        return f"<Peer {self.name} {self.addr.host}>"

    # -- what the B2BUA sent us ---------------------------------------------
    def take(self) -> list[Received]:
        out, self.inbox = self.inbox, []
        return out

    def kinds(self) -> list[str]:
        """The kinds waiting in the inbox (not removed)."""
        return [r.kind for r in self.inbox]

    def expect(self, *kinds: str) -> list[Received]:
        """Take the inbox, which must hold exactly these kinds, in order."""
        got = self.take()
        assert [r.kind for r in got] == list(kinds), f"{self.name} got {[r.kind for r in got]}"
        return got

    def expect_one(self, k: str) -> Received:
        return self.expect(k)[0]

    # -- sending --------------------------------------------------------------
    def send(self, msg: SipMessage | bytes, source: Address | None = None) -> None:
        data = msg if isinstance(msg, bytes) else msg.serialize()
        self.rig.deliver(data, source or self.addr)

    def branch(self) -> str:
        return f"z9hG4bK-peer{self.name}-{next(self._n)}"

    def via(self, branch: str | None = None) -> Header:
        b = branch or self.branch()
        return header("Via", f"SIP/2.0/UDP {self.addr.host}:{self.addr.port};branch={b};rport")

    # -- as the caller (UAC of the initial INVITE) ------------------------------
    def invite(
        self,
        body: bytes = b"",
        *,
        callee: str = "1002",
        display: str = "Alice",
        extra: Sequence[Header] = (),
        content_type: str = "application/sdp",
    ) -> Request:
        self.cseq += 1
        self.remote_uri = f"<sip:{callee}@{LOCAL.host}>"
        self.local_uri = f'"{display}" <sip:{self.user}@{LOCAL.host}>'
        headers = [
            self.via(),
            header("Max-Forwards", "70"),
            header("From", f"{self.local_uri};tag={self.tag}"),
            header("To", self.remote_uri),
            header("Call-ID", self.call_id),
            header("CSeq", f"{self.cseq} INVITE"),
            header("Contact", self.contact),
            header("User-Agent", self.user_agent),
            *([] if any(h[1] == "allow" for h in extra) else [header("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]),
            *extra,
        ]
        if body:
            headers.append(header("Content-Type", content_type))
        req = Request("INVITE", f"sip:{callee}@{LOCAL.host}", headers, body)
        self.invite_sent = req
        self.send(req)
        return req

    def _send_in_invite_transaction(self, method: str, inv: Request, to: str) -> Request:
        """A CANCEL or a non-2xx ACK: the INVITE's Via (its branch), From, Call-ID
        and CSeq number, with ``to`` as To."""
        req = Request(
            method,
            inv.uri,
            [
                header("Via", inv.get("via") or ""),
                header("Max-Forwards", "70"),
                header("From", inv.get("from") or ""),
                header("To", to),
                header("Call-ID", inv.call_id),
                header("CSeq", f"{inv.cseq.number} {method}"),
            ],
        )
        self.send(req)
        return req

    def cancel(self) -> Request:
        inv = self.invite_sent
        assert inv is not None
        return self._send_in_invite_transaction("CANCEL", inv, inv.get("to") or "")

    def ack_failure(self, resp: Response, invite: Request | None = None) -> Request:
        """§17.1.1.3: the ACK of a non-2xx final response to ``invite`` (default:
        the initial INVITE), with the INVITE's branch."""
        inv = invite or self.invite_sent
        assert inv is not None
        return self._send_in_invite_transaction("ACK", inv, resp.get("to") or "")

    def confirm(self, resp: Response) -> None:
        """Take the dialog state from a response with a To tag (§12.1.2)."""
        self.remote_tag = resp.to.tag
        contact = resp.get("contact")
        if contact:
            self.remote_target = _uri_of(contact)
        self.routes = list(reversed(resp.get_all("record-route")))

    def ack(self, resp: Response, body: bytes = b"") -> Request:
        """The ACK of a 2xx (§13.2.2.4): in the dialog, CSeq of the INVITE."""
        if self.remote_tag is None:
            self.confirm(resp)
        return self.request("ACK", body=body, cseq=resp.cseq.number)

    # -- as the callee (UAS of the INVITE the B2BUA sent) -----------------------
    def accept(self, invite: Request) -> None:
        """Take the dialog state from an INVITE we will answer with our tag (§12.1.1)."""
        self.call_id = invite.call_id
        self.remote_tag = invite.from_.tag
        self.remote_uri = _without_tag(invite.get("from") or "")
        self.local_uri = _without_tag(invite.get("to") or "")
        self.remote_target = _uri_of(invite.get("contact") or "")
        self.routes = invite.get_all("record-route")
        self.cseq = 100  # our own sequence, unrelated to the caller's

    def respond(
        self,
        req: Request,
        status: int,
        body: bytes = b"",
        *,
        reason: str | None = None,
        extra: Sequence[Header] = (),
        tag: bool = True,
        content_type: str = "application/sdp",
    ) -> Response:
        if req.method == "INVITE" and not req.to.tag and 100 < status < 300:
            self.accept(req)
        headers: list[Header] = []
        if 100 < status < 300 and req.method in ("INVITE", "UPDATE"):
            headers.append(header("Contact", self.contact))
        headers.append(header("Server", self.user_agent))
        headers.extend(extra)
        if body:
            headers.append(header("Content-Type", content_type))
        resp = make_response(req, status, reason, to_tag=self.tag if tag and status > 100 else None, headers=headers, body=body)
        # from the address the request reached: a proxy answers from its own
        self.send(resp, self.reached.get(id(req)))
        return resp

    def respond_reliably(
        self, req: Request, status: int, rseq: int, body: bytes = b"", *, extra: Sequence[Header] = ()
    ) -> Response:
        """A reliable provisional (RFC 3262 §3): Require: 100rel and RSeq."""
        return self.respond(req, status, body, extra=[header("Require", "100rel"), header("RSeq", str(rseq)), *extra])

    def prack(self, resp: Response, body: bytes = b"", *, rseq: int | None = None) -> Request:
        """The PRACK of a reliable provisional in its early dialog (RFC 3262 §7.2);
        ``rseq`` overrides the RAck's response number."""
        if self.remote_tag is None:
            self.confirm(resp)
        n = rseq if rseq is not None else int(resp.get("rseq") or "0")
        return self.request("PRACK", body, extra=[header("RAck", f"{n} {resp.cseq.number} {resp.cseq.method}")])

    # -- in-dialog requests ---------------------------------------------------------
    def request(
        self,
        method: str,
        body: bytes = b"",
        *,
        content_type: str = "application/sdp",
        cseq: int | None = None,
        extra: Sequence[Header] = (),
        send: bool = True,
    ) -> Request:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        assert self.remote_tag is not None, "no dialog yet"
        headers: list[Header] = [self.via(), header("Max-Forwards", "70")]
        headers += [header("Route", r) for r in self.routes]
        headers += [
            header("From", f"{self.local_uri};tag={self.tag}"),
            header("To", f"{self.remote_uri};tag={self.remote_tag}"),
            header("Call-ID", self.call_id),
            header("CSeq", f"{cseq} {method}"),
        ]
        if method in ("INVITE", "UPDATE"):
            headers.append(header("Contact", self.contact))
        headers.append(header("User-Agent", self.user_agent))
        headers.extend(extra)
        if body:
            headers.append(header("Content-Type", content_type))
        req = Request(method, self.remote_target, headers, body)
        if send:
            self.send(req)
        return req


class Harness:
    """One Endpoint + CallManager on virtual time, and the scripted peers."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        contacts: Sequence[tuple[str, Address]] | None = None,
        route: Route = EXTENSION,
        trunk_credentials: Callable[[str], tuple[str, str] | None] = lambda name: None,
        digest_client: Any = None,
    ) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.now = 0.0
        ids = CountingIds()
        self.endpoint = Endpoint(ids, t1=s.t1, t2=s.t2, local={"udp": LOCAL})
        self.events: list[CallEvent] = []
        self.route = route
        self.place = True  # False: calls wait for the server (answer_locally, place) after 100 Trying
        self.contacts = list(contacts) if contacts is not None else [("sip:1002@192.0.2.20:5060", B_ADDR)]
        self.manager = CallManager(
            self.endpoint,
            ids,
            s,
            contacts_for=self._contacts_for,
            local=lambda transport: LOCAL,
            trunk_credentials=trunk_credentials,
            digest_client=digest_client,
        )
        self.a = Peer(self, "A", A_ADDR, "1001", "PhoneA/1.0")
        self.b = Peer(self, "B", B_ADDR, "1002", "PhoneB/1.0")
        self.b2 = Peer(self, "B2", B2_ADDR, "1002", "PhoneB2/1.0")
        self.gw = Peer(self, "GW", GW_ADDR, "carrier", "Gateway/2.0")
        self.peers = {A_ADDR: self.a, B_ADDR: self.b, B2_ADDR: self.b2, B_PROXY: self.b, GW_ADDR: self.gw}
        self.unhandled: list[object] = []  # events neither the manager nor start_call took
        self.started: list[object] = []  # what start_call returned
        # the caller's identity as admission found it (decoded From user, display name)
        self.caller = "1001"
        self.display = "Alice"
        self.call_args: dict[str, Any] = {}  # more start_call arguments (group, account, ...)

    def _contacts_for(self, extension: str, now: float) -> Sequence[tuple[str, Address]]:
        assert extension == "1002"
        return self.contacts

    # -- input -------------------------------------------------------------------
    def deliver(self, data: bytes, source: Address) -> None:
        self.endpoint.receive(data, source, self.now)
        self.pump()

    def pump(self) -> None:
        """Drain the endpoint like the driver: datagrams to the peers' inboxes,
        events to the manager, until both queues are empty."""
        ep = self.endpoint
        self.collect()  # a step of the manager's own (end_call) came before
        while ep.outbox or ep.events:
            out, ep.outbox = ep.outbox, []
            for data, dest in out:
                peer = self.peers.get(dest)
                assert peer is not None, f"sent to an unknown address {dest}: {data[:60]!r}"
                r = Received(self.now, data, dest, parse_message(data))
                if isinstance(r.msg, Request):
                    peer.reached[id(r.msg)] = dest
                peer.inbox.append(r)
                peer.log.append(r)
            events, ep.events = ep.events, []
            for event in events:
                if self.manager.handle(event, self.now):
                    self.collect()
                    continue
                if (
                    isinstance(event, RequestReceived)
                    and event.request.method == "INVITE"
                    and event.transaction_id is not None
                ):
                    self.started.append(
                        self.manager.start_call(
                            event, self.route, caller=self.caller, caller_user="1001", display=self.display,
                            place=self.place, now=self.now, **self.call_args,
                        )
                    )
                else:
                    self.unhandled.append(event)
                self.collect()

    def collect(self) -> None:
        """After a step of the manager: take its call events, as the runtime does."""
        self.events.extend(self.manager.take_events())

    # -- time ----------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        ds = [d for d in (self.endpoint.next_deadline(), self.manager.next_deadline()) if d is not None]
        return min(ds) if ds else None

    def run_until(self, t: float) -> None:
        """Fire every timer due up to ``t`` at its exact deadline; then now = t."""
        while True:
            d = self.next_deadline()
            if d is None or d > t:
                break
            self.now = max(self.now, d)
            self.endpoint.handle_timer(self.now)
            self.manager.handle_timer(self.now)
            self.collect()
            self.pump()
        self.now = max(self.now, t)

    def advance(self, dt: float) -> None:
        self.run_until(self.now + dt)

    # -- checks ----------------------------------------------------------------------
    def take_events(self) -> list[CallEvent]:
        out, self.events[:] = list(self.events), []
        return out

    def ended(self) -> CallEnded:
        ends = [e for e in self.events if isinstance(e, CallEnded)]
        assert len(ends) == 1, self.events
        return ends[0]

    def assert_isolated(self) -> None:
        """Nothing of one side's Via, Contact, Record-Route, Call-ID, tags or
        User-Agent ever reached the other side (bodies are relayed as they are)."""
        a_marks = [A_ADDR.host, self.a.call_id, self.a.tag, "peerA-", self.a.user_agent]
        b_call_ids = {r.msg.call_id for p in (self.b, self.b2, self.gw) for r in p.log}
        b_marks = [B_ADDR.host, B2_ADDR.host, B_PROXY.host, self.b.tag, self.b2.tag, "peerB", "PhoneB"]
        b_marks += [GW_ADDR.host, self.gw.tag, "peerGW", "Gateway/"]
        b_marks += [f"Call-ID: {c}\r\n" for c in b_call_ids]
        for r in self.b.log + self.b2.log + self.gw.log:
            text = head(r.data).decode()
            for m in a_marks:
                assert m not in text, f"{m!r} of A leaked to B:\n{text}"
        for r in self.a.log:
            text = head(r.data).decode()
            for m in b_marks:
                assert m not in text, f"{m!r} of B leaked to A:\n{text}"

    def hang_up(self) -> None:
        """A hangs up (B answers the relayed BYE), then everything settles."""
        self.a.request("BYE")
        self.a.expect("200 BYE")
        self.b.respond(self.b.expect_one("BYE").request, 200)
        self.settle()

    def settle(self, seconds: float = 120.0) -> None:
        """Let every transaction and call die out; then nothing may be left."""
        self.advance(seconds)
        m = self.manager
        assert len(m) == 0
        assert self.endpoint.transaction_count == 0
        assert m.next_deadline() is None
        assert self.endpoint.next_deadline() is None
        assert m.index.sizes() == dict.fromkeys(("calls", "txns", "relays", "dialogs", "a_invites", "reinvites"), 0)
        assert m.events == []
