"""Routing: which trunk a source address is, and where a dialed number goes.

The call layer's own view of the configuration (the runtime converts its
configuration into these values, so nothing here imports ``runtime``):
:class:`Extension` (a SIP account that calls and is called), :class:`Trunk`
(a carrier or another PBX) and :class:`RoutePrefix` (an outbound route).

Inbound trunks are recognised by source address (CIDR lists), which a UDP
sender can forge: a trunk may also require digest authentication
(``inbound_auth = "digest"`` with its ``username``/``password``) or accept
TCP only (``inbound_transport = "tcp"``); the admission machine checks both.
A trunk's calls reach another trunk only with ``allow_transit``.  Their calls
are routed by DID to extensions (:meth:`Trunk.extension_for`, the one place
a DID is matched, with or without a leading ``+``).  Calls from phones go to
an extension when the number is one, else to the trunk of the longest
matching route prefix, with the trunk's number rewriting applied.  Emergency
numbers are always routed: by their route if one matches, else by the first
trunk.  A call's route label (``"extension"``, ``"trunk:NAME"``, ``"none"``)
is :attr:`Route.label`, and a trunk's caller name :attr:`Trunk.label`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal, Mapping, Sequence

import msgspec

from b2bua.sip.errors import ParseError
from b2bua.sip.message import Request
from dialplan.policy import Mode

DEFAULT_EMERGENCY = frozenset({"911", "933", "112", "999"})


def trunk_label(name: str) -> str:
    """How a trunk is named in call records: as the route and as the caller."""
    return "trunk:" + name


class Extension(msgspec.Struct, frozen=True, kw_only=True):
    """A SIP account: a phone registers and calls with these credentials."""

    extension: str
    auth_name: str  # digest username
    password: str
    display_name: str = ""
    group: str = "default"  # business group
    department: str = ""
    account_code_mode: Mode | None = None  # instead of the group's mode
    account_code: str | None = None  # a code every call of this user carries
    digest_algorithms: tuple[str, ...] | None = None  # instead of the server's (e.g. SHA-256 only)


class Trunk(msgspec.Struct, frozen=True, kw_only=True):
    """A carrier trunk: where outbound calls go and whose calls are trusted inbound."""

    name: str
    host: str
    port: int = 5060
    transport: Literal["udp", "tcp"] = "udp"
    inbound: tuple[str, ...] = ()  # source networks recognised as this trunk
    strip: int = 0  # outbound rewriting: strip N leading digits, then prepend
    prepend: str = ""
    username: str = ""  # digest credentials answered on 401/407 from the carrier
    password: str = ""
    dids: Mapping[str, str] = {}  # inbound DID -> extension
    pass_account_code: bool = False  # trusted to pass the account code of its calls
    group: str = ""  # calls to non-DIDs go out under this group's policy ("" = none)
    inbound_auth: Literal["none", "digest"] = "none"  # digest: its calls must authenticate as username/password
    inbound_transport: Literal["any", "tcp"] = "any"  # tcp: calls over UDP (forgeable source) are refused
    allow_transit: bool = False  # may its calls (with a group) reach a trunk?

    @property
    def label(self) -> str:
        return trunk_label(self.name)

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None

    def extension_for(self, dialed: str) -> str | None:
        """The extension a DID rings (``+`` optional), None when it is no DID here."""
        ext = self.dids.get(dialed)
        if ext is None and dialed.startswith("+"):
            ext = self.dids.get(dialed[1:])
        return ext


class RoutePrefix(msgspec.Struct, frozen=True, kw_only=True):
    """Outbound route: dialed numbers starting with ``prefix`` go to ``trunk``."""

    prefix: str
    trunk: str


class Route(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["extension", "trunk", "none", "prompt"]  # prompt: held by the server, routed later
    destination: str  # extension, or the number sent to the trunk (rewritten)
    trunk: Trunk | None = None
    emergency: bool = False
    reason: str = ""  # why "none"
    status: int = 404  # the answer when "none"
    hangup: str = ""  # who ended a "none" attempt: "caller" when it was cancelled while admitted

    @property
    def label(self) -> str:
        """``"extension"``, ``"trunk:NAME"``, ``"none"`` or ``"prompt"`` (CallStarted.route)."""
        return self.trunk.label if self.trunk is not None else self.kind


def refusal(destination: str, status: int, reason: str, *, hangup: str = "") -> Route:
    """The route of an attempt refused before it rings (still reported as a call)."""
    return Route(kind="none", destination=destination, status=status, reason=reason, hangup=hangup)


def dialed_user(req: Request) -> str:
    """The Request-URI's user part: the number as dialed ("" when there is none)."""
    try:
        uri = req.ruri
    except ParseError:
        return ""
    return getattr(uri, "user", None) or ""


MAX_SOURCES = 4096  # source addresses whose trunk (or none) is remembered
_UNKNOWN = object()


class Router:
    def __init__(
        self,
        extensions: Sequence[Extension],
        trunks: Sequence[Trunk],
        routes: Sequence[RoutePrefix],
        emergency: frozenset[str] = DEFAULT_EMERGENCY,
    ) -> None:
        self.extensions = {u.extension: u for u in extensions}
        self.trunks = {t.name: t for t in trunks}
        self.trunk_list = list(trunks)
        self.emergency = emergency
        # longest prefix first
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self._nets = [
            (ipaddress.ip_network(c, strict=False), t) for t in trunks for c in t.inbound
        ]
        # source address -> its trunk or None, remembered (the configuration is fixed)
        self._sources: dict[str, Trunk | None] = {}

    def inbound_trunk(self, host: str) -> Trunk | None:
        """The trunk whose inbound networks hold ``host`` (a source address)."""
        known = self._sources.get(host, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        found = self._match(host)
        if len(self._sources) >= MAX_SOURCES:
            self._sources.clear()  # bounded, whatever sources send
        self._sources[host] = found
        return found

    def _match(self, host: str) -> Trunk | None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        for net, trunk in self._nets:
            if ip.version == net.version and ip in net:
                return trunk
        return None

    def route_from_trunk(self, trunk: Trunk, dialed: str) -> Route:
        ext = trunk.extension_for(dialed)
        if ext is None:
            return Route(kind="none", destination=dialed, reason=f"DID {dialed} is not assigned")
        return Route(kind="extension", destination=ext)

    def route_from_phone(self, dialed: str) -> Route:
        if dialed in self.extensions:
            return Route(kind="extension", destination=dialed)
        emergency = dialed in self.emergency
        for r in self.routes:
            if dialed.startswith(r.prefix):
                return self._via(self.trunks[r.trunk], dialed, emergency)
        if emergency and self.trunk_list:
            return self._via(self.trunk_list[0], dialed, True)
        return Route(kind="none", destination=dialed, emergency=emergency, reason=f"no route for {dialed}")

    @staticmethod
    def _via(trunk: Trunk, dialed: str, emergency: bool) -> Route:
        number = dialed if emergency else trunk.prepend + dialed[trunk.strip :]
        return Route(kind="trunk", destination=number, trunk=trunk, emergency=emergency)
