"""The one exception tree of the media layer (RTP, RTCP, RFC 4733, codecs).

A peer's malformed packet never escapes to the event loop: the parsers raise
:class:`MalformedPacket`, which the shell turns into a counted drop; the
stream keeps working.  :class:`PortRangeExhausted` is the one error the
allocation of a stream can raise (no even port left in the configured range),
and the call layer turns it into a refusal of the prompt, not a crash.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error raised by the media layer."""


class MalformedPacket(MediaError, ValueError):
    """A datagram or payload that does not follow its RFC (RTP RFC 3550 §5.1,
    RTCP §6.4, telephone-events RFC 4733 §2.3).  ``reason`` says what is
    wrong, for the drop counter's log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PortRangeExhausted(MediaError):
    """Every even port of the configured RTP range is in use (RFC 3550 §11:
    RTP on an even port, RTCP on the next odd one)."""

    def __init__(self, first: int, last: int) -> None:
        super().__init__(f"no free even RTP port in {first}-{last}")
        self.first = first
        self.last = last
