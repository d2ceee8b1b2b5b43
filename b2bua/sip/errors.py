"""The one exception tree of the SIP core.

A peer's malformed input never escapes to the event loop: the parser raises
:class:`ParseError`, which carries the status code to answer with (h11's
``RemoteProtocolError`` idea).  ``status is None`` means "drop silently"
(malformed responses, RFC 3261 §18.1.2 and RFC 4475 §3.1.2.19).
"""

from __future__ import annotations


class SipError(Exception):
    """Base of every error raised by the SIP core."""


class ParseError(SipError):
    """A message (or part of one) that does not follow RFC 3261 §25.

    ``status``/``reason`` say how to answer a request that carried it;
    ``status`` is None when the message must be dropped without an answer.
    ``headers`` are extra headers the answer must carry (Allow, Accept, ...).
    """

    def __init__(
        self,
        reason: str,
        status: int | None = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers
        # A Request holding what could be read, so the answer can be routed.
        self.partial: object | None = None


class UnsafeValue(SipError, ValueError):
    """A message we are about to write holds CR, LF or NUL inside its start
    line or a header value: written, it would end the line early and let the
    rest be read as headers of the peer's choosing (header injection).  The
    message is refused instead (:meth:`b2bua.sip.message.Message.serialize`)."""


class FramingError(SipError):
    """A stream transport peer broke framing (huge Content-Length, oversize head).

    The connection must be closed; other peers are unaffected.  ``head`` is the
    complete head of the message at fault when there is one (a missing,
    negative or conflicting Content-Length): a request gets a 400 naming the
    fault before the connection closes, as the same message would over UDP.
    """

    def __init__(self, reason: str, head: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.head = head
