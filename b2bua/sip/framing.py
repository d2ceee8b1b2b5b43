"""Framing SIP messages on a byte stream by Content-Length (RFC 3261 §18.3).

``StreamFramer.feed(data)`` returns the complete messages (bytes) found so far.
Limits protect the server from a peer that never ends its head or announces a
huge body: breaking them raises :class:`FramingError` and the connection is
closed.  Messages framed before the fault in the same chunk are not lost:
``feed`` returns them and raises on the next call (``broken`` says why).  CRLF keep-alives between messages (RFC 5626 §3.5.1) are skipped.
A head arriving in many segments is scanned once: the search for its end
resumes where the last one stopped.
"""

from __future__ import annotations

import re

from .errors import FramingError

MAX_HEAD_BYTES = 16 * 1024  # start line + headers
MAX_BODY_BYTES = 64 * 1024  # a SIP body larger than this is not ours to carry
MAX_HEADERS = 128  # header lines in one message

_CL_RE = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\s]*)[ \t]*\r?$")


class StreamFramer:
    __slots__ = ("_buf", "_scanned", "max_head", "max_body", "max_headers", "broken")

    def __init__(
        self,
        max_head: int = MAX_HEAD_BYTES,
        max_body: int = MAX_BODY_BYTES,
        max_headers: int = MAX_HEADERS,
    ) -> None:
        self._buf = bytearray()
        self._scanned = 0  # bytes of an unfinished head already searched for its end
        self.max_head = max_head
        self.max_body = max_body
        self.max_headers = max_headers
        self.broken: FramingError | None = None

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self.broken is not None:
            raise self.broken
        out: list[bytes] = []
        try:
            self._frame(data, out)
        except FramingError as err:
            if not out:
                raise
            self.broken = err
        return out

    def _frame(self, data: bytes, out: list[bytes]) -> None:
        buf = self._buf
        buf += data
        while True:
            # skip keep-alive CRLFs between messages
            i = 0
            n = len(buf)
            while i < n and buf[i] in (13, 10):
                i += 1
            if i:
                del buf[:i]
            if not buf:
                return
            end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0:
                if len(buf) > self.max_head:
                    raise FramingError("Message head too large")
                self._scanned = len(buf)
                return
            self._scanned = 0
            if end > self.max_head:
                raise FramingError("Message head too large")
            head = bytes(buf[:end])
            if head.count(b"\n") + 1 > self.max_headers + 1:
                raise FramingError("Too many header lines", head)
            lengths = _CL_RE.findall(head)
            if not lengths:
                raise FramingError("Missing Content-Length on a stream transport", head)
            values = {v for v in lengths}
            if len(values) != 1:
                raise FramingError("Conflicting Content-Length values", head)
            value = lengths[0]
            if not value.isdigit() or len(value) > 10:
                raise FramingError("Bad Content-Length", head)
            length = int(value)
            if length > self.max_body:
                raise FramingError(f"Content-Length {length} exceeds the limit of {self.max_body}", head)
            total = end + 4 + length
            if len(buf) < total:
                return
            out.append(bytes(buf[:total]))
            del buf[:total]
