"""Dialogs (RFC 3261 §12): the state one side of a call keeps, and the
requests built within it.

A dialog is identified by Call-ID, local tag and remote tag.  It remembers the
local and remote CSeq, the remote target (the peer's Contact) and the route
set, and builds in-dialog requests (§12.2.1.1): BYE, re-INVITE, UPDATE, INFO,
and the ACK for a 2xx (§13.2.2.4).

``flow`` is the address in-dialog requests are sent to when there is no route
set: the address the dialog's first request came from (UAS) or was sent to
(UAC).  Sending back along that flow is what keeps phones behind NAT and on
TCP reachable (the idea of RFC 5626 without its machinery).

A dialog is made only with a usable route set and remote target
(:func:`check_route_set`): an entry that is not a name-addr with a SIP URI
(``<sip:[::1>;lr``) raises :class:`~b2bua.sip.errors.ParseError` when the
dialog is made, never later when a BYE or ACK must be sent along it.
"""

from __future__ import annotations

from typing import Any

from .errors import ParseError
from .headers import parse_name_addr
from .message import Header, Request, Response, header
from .uri import SipUri, parse_uri

Address = Any  # b2bua.sip.endpoint.Address (transport, host, port)


class Dialog:
    __slots__ = (
        "call_id",
        "local_tag",
        "remote_tag",
        "local_uri",
        "remote_uri",
        "local_seq",
        "remote_seq",
        "remote_target",
        "route_set",
        "local_contact",
        "flow",
        "user_agent",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: str,
        remote_uri: str,
        local_seq: int,
        remote_seq: int | None,
        remote_target: str,
        route_set: list[str],
        local_contact: str,
        flow: Address,
        user_agent: str = "b2bua",
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri  # From value without tag, as sent (UAC) / To value (UAS)
        self.remote_uri = remote_uri
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_contact = local_contact
        self.flow = flow
        self.user_agent = user_agent

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    # -- creation -------------------------------------------------------------
    @classmethod
    def from_uas(
        cls, request: Request, local_tag: str, local_contact: str, flow: Address, user_agent: str = "b2bua"
    ) -> "Dialog":
        """The UAS side of a dialog created by ``request`` (§12.1.1).
        Raises ParseError when its Record-Route or Contact is unusable."""
        frm = request.from_
        target = dialog_target(request, str(frm.uri))
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=frm.tag or "",
            local_uri=_without_tag(request.get("to") or ""),
            remote_uri=_without_tag(request.get("from") or ""),
            local_seq=0,
            remote_seq=request.cseq.number,
            remote_target=target,
            route_set=request.get_all("record-route"),
            local_contact=local_contact,
            flow=flow,
            user_agent=user_agent,
        )

    @classmethod
    def from_uac(cls, request: Request, response: Response, flow: Address, user_agent: str = "b2bua") -> "Dialog":
        """The UAC side created by a response with a To tag to ``request`` (§12.1.2).
        Raises ParseError when its Record-Route or Contact is unusable."""
        target = dialog_target(response, request.uri)
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=response.to.tag or "",
            local_uri=_without_tag(request.get("from") or ""),
            remote_uri=_without_tag(request.get("to") or ""),
            local_seq=request.cseq.number,
            remote_seq=None,
            remote_target=target,
            route_set=list(reversed(response.get_all("record-route"))),
            local_contact=request.get("contact") or "",
            flow=flow,
            user_agent=user_agent,
        )

    def update_target(self, message: Request | Response) -> None:
        """A target refresh (re-INVITE, UPDATE or their 2xx) may change the Contact."""
        self.remote_target = contact_target(message, self.remote_target)

    # -- in-dialog requests ---------------------------------------------------
    def check_remote_seq(self, request: Request) -> bool:
        """§12.2.2: a CSeq lower than the last one is out of order (answer 500).
        Updates the remote sequence number when in order."""
        n = request.cseq.number
        if self.remote_seq is not None and n <= self.remote_seq and request.method not in ("ACK", "CANCEL"):
            return False
        if request.method not in ("ACK", "CANCEL"):
            self.remote_seq = n
        return True

    def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[Header] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A new in-dialog request (§12.2.1.1); the Via is added by the transaction layer."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri = self.remote_target
        routes = self.route_set
        if routes and not _is_loose(routes[0]):
            # strict routing (RFC 2543): the first route becomes the Request-URI
            uri = _route_uri(routes[0])
            routes = [*routes[1:], f"<{self.remote_target}>"]
        headers: list[Header] = [header("Max-Forwards", "70")]
        for r in routes:
            headers.append(header("Route", r))
        headers += [
            header("From", f"{self.local_uri};tag={self.local_tag}"),
            header("To", f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri),
            header("Call-ID", self.call_id),
            header("CSeq", f"{cseq} {method}"),
        ]
        if method not in ("ACK", "CANCEL", "BYE") and self.local_contact:
            headers.append(header("Contact", self.local_contact))
        headers.append(header("User-Agent", self.user_agent))
        if extra:
            headers.extend(extra)
        if body and content_type:
            headers.append(header("Content-Type", content_type))
        return Request(method, uri, headers, body)

    def ack(self, invite_cseq: int, body: bytes = b"", content_type: str | None = None) -> Request:
        """The ACK for a 2xx to the INVITE with CSeq ``invite_cseq`` (§13.2.2.4)."""
        return self.request("ACK", body=body, content_type=content_type, cseq=invite_cseq)

    def next_hop(self) -> tuple[str, int | None, str] | None:
        """Host, port and transport of the first route, or None to use the flow."""
        if not self.route_set:
            return None
        uri = parse_uri(_route_uri(self.route_set[0]))
        if not isinstance(uri, SipUri):
            return None
        return uri.host, uri.port, uri.transport


def dialog_target(message: Request | Response, fallback: str) -> str:
    """The remote target a dialog-creating ``message`` gives (its first
    Contact's URI, else ``fallback``), after checking that its Contact and
    Record-Route can be used.  Raises ParseError (400 for a request)."""
    contacts = message.name_addrs("contact")
    check_route_set(message.get_all("record-route"))
    return str(contacts[0].uri) if contacts else fallback


def check_route_set(routes: list[str]) -> None:
    """Every Record-Route entry must be a name-addr with a SIP URI (RFC 3261
    §20.30, §16.12.1.1): a route set we cannot send along is refused when the
    dialog is made.  Raises ParseError (400 for a request)."""
    for route in routes:
        try:
            na = parse_name_addr(route)
        except ParseError as err:
            raise ParseError(f"Bad Record-Route {route!r}: {err.reason}") from None
        if not isinstance(na.uri, SipUri):
            raise ParseError(f"Bad Record-Route {route!r}: not a SIP URI")


def _without_tag(value: str) -> str:
    gt = value.rfind(">")
    head, tail = (value[: gt + 1], value[gt + 1 :]) if gt >= 0 else ("", value)
    if not head:
        # addr-spec form: parameters after the URI are header parameters
        uri, _, params = value.partition(";")
        head, tail = uri, (";" + params if params else "")
    kept = [p for p in tail.split(";") if p.strip() and not p.strip().lower().startswith("tag=")]
    return head + "".join(";" + p.strip() for p in kept)


def _route_uri(route: str) -> str:
    lt, gt = route.find("<"), route.find(">")
    return route[lt + 1 : gt] if lt >= 0 and gt > lt else route


def _is_loose(route: str) -> bool:
    try:
        uri = parse_uri(_route_uri(route))
    except Exception:
        return True
    return isinstance(uri, SipUri) and "lr" in uri.params


def flow_for_uri(uri: SipUri, default_port: int = 5060) -> tuple[str, str, int]:
    """(transport, host, port) for sending to ``uri`` without DNS (IP hosts)."""
    return (uri.transport, uri.host, uri.port or default_port)


def contact_target(message: Request | Response, fallback: str) -> str:
    """The URI of the first Contact of ``message``; ``fallback`` when it has none or
    an unreadable one (a peer's malformed Contact must not break the dialog)."""
    try:
        contacts = message.get_all("contact")
        return str(parse_name_addr(contacts[0]).uri) if contacts else fallback
    except ParseError:
        return fallback
