"""A callee's 3xx answer (RFC 3261 §8.1.3.4, §21.3): followed, or relayed to the caller.

Theory of operation
-------------------
``Settings.redirect`` chooses what a 3xx from a B leg does while the call
still rings (:func:`on_3xx`, called before the fork's failure is counted):

* ``"follow"``: the Contacts of the 3xx become new forks, best ``q`` first
  (equal ``q`` in the order given).  Only ``sip:``/``sips:`` URIs whose
  transport we listen on, never one of the server's own listening
  addresses (a loop), never a URI this call already tried, and at most
  ``Settings.max_redirects`` targets per call (a redirect chain ends
  there).  The first target is invited at once; the others wait in the
  call's :class:`Redirects` and are invited one at a time, the next when
  every fork has failed (:func:`proceed`, RFC 3261 §8.1.3.4: in q order,
  one after the other).  A 3xx none of whose Contacts can be followed is
  kept to be relayed, as below (the caller may reach a target the server
  refused to follow, such as one of its own extensions, by calling it).
* ``"relay"``: the 3xx is kept; when every fork has failed and no 6xx came,
  the caller gets it (:func:`proceed`) with its Contacts copied: 300, 301,
  302 and 380 as they are, another 3xx as 300 (§8.1.3.2 reads an unknown
  3xx as 300).  305 (Use Proxy) is never relayed: its Contact is the
  callee's proxy, not a target; it is counted as a 502.

A 3xx is never the call's ``best`` failure: a followed one leads to other
answers, and a kept one wins over any 4xx/5xx (the lowest class, §16.7
step 6) but not over a 6xx.  A trunk's credentials are never sent to a
redirect target that challenges (:func:`followed`).  Every 3xx is reported as
:class:`~b2bua.calls.events.CallRedirected` (status, action, targets), and a
relayed one ends the call with the cause ``callee redirected 302 ...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from b2bua.sip.endpoint import Address
from b2bua.sip.errors import ParseError
from b2bua.sip.headers import parse_name_addr
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.uri import SipUri

from .call import RINGING, Call
from .events import CallRedirected

if TYPE_CHECKING:
    from .leg import CallCore, Leg

RELAYED_AS_IS = frozenset({300, 301, 302, 380})
_DROPPED = ("via", "authorization", "proxy-authorization", "call-id", "cseq", "from")

Launch = Callable[[Call, Request, Address, float], Any]  # CallManager._invite_fork


class Redirects:
    """A call's redirections so far: targets waiting, URIs tried, the 3xx kept for the caller."""

    __slots__ = ("queue", "tried", "followed", "sent", "kept")

    def __init__(self) -> None:
        self.queue: list[tuple[str, Address]] = []
        self.tried: set[str] = set()
        self.followed = 0
        self.sent: set[str] = set()  # the Request-URIs of the redirected forks
        self.kept: Response | None = None


def _state(call: Call) -> Redirects:
    st = call.redirect
    if not isinstance(st, Redirects):
        st = call.redirect = Redirects()
        for f in call.forks:
            st.tried.add(f.invite.uri)
    return st


def targets(core: "CallCore", resp: Response, tried: set[str], limit: int) -> list[tuple[str, Address]]:
    """The Contacts of ``resp`` that may be followed, best q first, at most ``limit``."""
    own = {(a.host.lower(), a.port) for a in core.endpoint.local.values()}
    found: list[tuple[float, int, str, Address]] = []
    for i, value in enumerate(resp.get_all("contact")):
        try:
            na = parse_name_addr(value)
            q = float(na.params.get("q") or "1")
        except (ParseError, ValueError):
            continue
        uri = na.uri
        if not isinstance(uri, SipUri) or uri.transport not in core.endpoint.local:
            continue
        port = uri.port or (5061 if uri.transport == "tls" else 5060)
        ruri = str(uri)
        if (uri.host.lower(), port) in own or ruri in tried:
            continue
        found.append((-q, i, ruri, Address(uri.transport, uri.host, port)))
    found.sort(key=lambda t: (t[0], t[1]))
    return [(ruri, flow) for _, _, ruri, flow in found[: max(limit, 0)]]


def redirected_invite(core: "CallCore", old: Request, ruri: str) -> Request:
    """A redirected fork's INVITE: ``old`` (a B-leg INVITE) towards ``ruri``,
    a dialog of its own (fresh Call-ID and From tag, CSeq 1), the same To."""
    frm = old.from_.with_tag(core.ids.tag())
    headers: list[Header] = [
        header("From", str(frm)),
        header("Call-ID", core.ids.call_id()),
        header("CSeq", "1 INVITE"),
        *(h for h in old.headers if h[1] not in _DROPPED),
    ]
    return Request("INVITE", ruri, headers, old.body)


def on_3xx(b: "Leg", resp: Response, now: float, events: list[Any], launch: Launch) -> Response:
    """A 3xx ended fork ``b``: follow it or keep it for the caller (see the
    module docstring).  Returns the failure to count for the fork."""
    call = b.call
    core = b.core
    if resp.status == 305 or call.state not in RINGING:
        return Response(502, "Bad Gateway") if resp.status == 305 else resp
    st = _state(call)
    found: list[tuple[str, Address]] = []
    if core.s.redirect == "follow":
        found = targets(core, resp, st.tried, core.s.max_redirects - st.followed)
    if found:
        st.followed += len(found)
        st.tried.update(ruri for ruri, _ in found)
        st.queue.extend(found)
        action = "follow"
        listed = tuple(ruri for ruri, _ in found)
    else:
        if st.kept is None:
            st.kept = resp
        action = "relay"
        listed = tuple(resp.get_all("contact"))
    events.append(CallRedirected(ref=call.ref, at=now, status=resp.status, action=action, targets=listed))
    if found:
        _invite_next(b, st, now, launch)
    return resp


def _invite_next(b: "Leg", st: Redirects, now: float, launch: Launch) -> None:
    ruri, flow = st.queue.pop(0)
    st.sent.add(ruri)
    launch(b.call, redirected_invite(b.core, b.invite, ruri), flow, now)


def followed(b: "Leg") -> bool:
    """Is ``b`` a fork to a redirect target?  (A trunk's credentials are
    never offered to one.)"""
    st = b.call.redirect
    return isinstance(st, Redirects) and b.invite.uri in st.sent


def proceed(call: Call, now: float, launch: Launch, fail: Callable[..., None]) -> bool:
    """Every fork has failed: invite the next redirect target, or relay the
    kept 3xx to the caller (unless a 6xx came).  False: neither applies."""
    st = call.redirect
    if not isinstance(st, Redirects):
        return False
    if st.queue:
        _invite_next(call.forks[-1], st, now, launch)
        return True
    kept = st.kept
    if kept is None or (call.best is not None and call.best.status >= 600):
        return False
    status = kept.status if kept.status in RELAYED_AS_IS else 300
    extra = [header("Contact", c) for c in kept.get_all("contact")]
    reason = kept.reason if status == kept.status else None
    fail(call, status, now, reason=reason, cause=f"callee redirected {kept.status} {kept.reason}", extra=extra)
    return True
