"""Who may scrape ``/metrics`` (``[http] metrics_token`` and ``metrics_allow``).

With neither set ``/metrics`` is open to whoever reaches the HTTP address (keep
it on loopback).  ``metrics_allow`` lists the source addresses or networks
allowed (others get 403); ``metrics_token`` is a bearer token the scraper
sends (``Authorization: Bearer TOKEN``; Prometheus: ``authorization:
{credentials: TOKEN}``), compared in constant time; without it or with
another: 401.  Both set: both must hold.  Pure: the decision only.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Sequence


class MetricsAccess:
    def __init__(self, token: str, allow: Sequence[str]) -> None:
        self.token = token.encode()
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]

    def refusal(self, authorization: str | None, source: str | None) -> tuple[int, str] | None:
        """(status, why) when this scrape is refused; None when it may go on."""
        if self.allow:
            try:
                address = ipaddress.ip_address(source or "")
            except ValueError:
                return 403, "metrics: source address not allowed"
            if not any(address in net for net in self.allow):
                return 403, "metrics: source address not allowed"
        if self.token:
            scheme, _, given = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
                return 401, "metrics: a bearer token is needed (Authorization: Bearer TOKEN)"
        return None
