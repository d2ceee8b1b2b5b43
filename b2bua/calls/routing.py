"""Routing: which trunk a source address is, and where a dialed number goes.

Inbound trunks are recognised by source address (CIDR lists); their calls
are routed by DID to extensions.  Calls from phones go to an extension when
the number is one, else to the trunk of the longest matching route prefix,
with the trunk's number rewriting applied.  Emergency numbers are always
routed: by their route if one matches, else by the first trunk.
"""

from __future__ import annotations

import ipaddress
from typing import Literal, Sequence

import msgspec

from b2bua.runtime.config import RouteConfig, TrunkConfig, UserConfig

DEFAULT_EMERGENCY = frozenset({"911", "933", "112", "999"})


class Route(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["extension", "trunk", "none"]
    destination: str  # extension, or the number sent to the trunk (rewritten)
    trunk: TrunkConfig | None = None
    emergency: bool = False
    reason: str = ""  # why "none"
    status: int = 404  # the answer when "none"


class Router:
    def __init__(
        self,
        users: Sequence[UserConfig],
        trunks: Sequence[TrunkConfig],
        routes: Sequence[RouteConfig],
        emergency: frozenset[str] = DEFAULT_EMERGENCY,
    ) -> None:
        self.users = {u.extension: u for u in users}
        self.trunks = {t.name: t for t in trunks}
        self.trunk_list = list(trunks)
        self.emergency = emergency
        # longest prefix first
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self._nets = [
            (ipaddress.ip_network(c, strict=False), t) for t in trunks for c in t.inbound
        ]

    def inbound_trunk(self, host: str) -> TrunkConfig | None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        for net, trunk in self._nets:
            if ip.version == net.version and ip in net:
                return trunk
        return None

    def route_from_trunk(self, trunk: TrunkConfig, dialed: str) -> Route:
        ext = trunk.dids.get(dialed)
        if ext is None and dialed.startswith("+"):
            ext = trunk.dids.get(dialed[1:])
        if ext is None:
            return Route(kind="none", destination=dialed, reason=f"DID {dialed} is not assigned")
        return Route(kind="extension", destination=ext)

    def route_from_phone(self, dialed: str) -> Route:
        if dialed in self.users:
            return Route(kind="extension", destination=dialed)
        emergency = dialed in self.emergency
        for r in self.routes:
            if dialed.startswith(r.prefix):
                return self._via(self.trunks[r.trunk], dialed, emergency)
        if emergency and self.trunk_list:
            return self._via(self.trunk_list[0], dialed, True)
        return Route(kind="none", destination=dialed, emergency=emergency, reason=f"no route for {dialed}")

    @staticmethod
    def _via(trunk: TrunkConfig, dialed: str, emergency: bool) -> Route:
        number = dialed if emergency else trunk.prepend + dialed[trunk.strip :]
        return Route(kind="trunk", destination=number, trunk=trunk, emergency=emergency)
