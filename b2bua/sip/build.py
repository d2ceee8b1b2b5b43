"""Building messages: responses to requests (RFC 3261 §8.2.6) and identifiers.

The pure core never draws random numbers itself: identifiers come from an
:class:`IdSource` given to it, so tests can be exact.  The runtime passes
:class:`b2bua.runtime.ids.RandomIds`.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Protocol

from .headers import split_outside
from .message import Header, Request, Response

BRANCH_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7
COPIED_TO_RESPONSE = ("via", "from", "to", "call-id", "cseq")


class IdSource(Protocol):
    def branch(self) -> str: ...
    def tag(self) -> str: ...
    def call_id(self) -> str: ...


class CountingIds:
    """Deterministic identifiers for tests: z9hG4bK-b1, t1, c1 ..."""

    def __init__(self, prefix: str = "") -> None:
        self._n = itertools.count(1)
        self._prefix = prefix

    def branch(self) -> str:
        return f"{BRANCH_COOKIE}-{self._prefix}b{next(self._n)}"

    def tag(self) -> str:
        return f"{self._prefix}t{next(self._n)}"

    def call_id(self) -> str:
        return f"{self._prefix}c{next(self._n)}"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[Header] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``request``: Via, From, To, Call-ID and CSeq copied
    (RFC 3261 §8.2.6.2), the To tag added when given and absent, then
    ``headers``.  Works on a partial request (see ParseError.partial): only
    the headers present are copied."""
    out: list[Header] = []
    for entry in request.headers:
        key = entry[1]
        if key in COPIED_TO_RESPONSE:
            if key == "to" and to_tag is not None and status != 100:
                value = entry[2]
                if not _has_tag(value):
                    entry = (entry[0], key, f"{value};tag={to_tag}")
            out.append(entry)
    out.extend(headers)
    return Response(status, reason, out, body)


def _has_tag(value: str) -> bool:
    gt = value.rfind(">")
    params = value[gt + 1 :] if gt >= 0 else value
    return any(p.strip().lower().startswith("tag=") for p in split_outside(params, ";")[1:])
