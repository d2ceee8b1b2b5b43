"""Identifiers for the wire: branches, tags and Call-IDs (RFC 3261 §8.1.1.7, §19.3).

RFC 3261 §19.3 asks for tags and Call-IDs that are cryptographically random:
an attacker who can predict the next Call-ID, tag or branch can forge
in-dialog requests and responses.  A Mersenne Twister (``random.Random``) is
not: its whole state follows from 624 observed 32-bit outputs, i.e. a few
hundred Call-IDs.  These come from the kernel's CSPRNG (``os.urandom``), read
in batches so that the hot path costs a slice and a hex conversion, not a
system call per identifier.
"""

from __future__ import annotations

import os

from b2bua.sip.build import BRANCH_COOKIE

BATCH = 4096  # bytes read from os.urandom at a time (~400 identifiers)


class RandomIds:
    """64 bits for a branch, 48 for a tag, 96 for a Call-ID, all from os.urandom."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def _hex(self, n: int) -> str:
        pos = self._pos
        end = pos + n
        if end > len(self._buf):
            self._buf = os.urandom(BATCH)
            pos, end = 0, n
        self._pos = end
        return self._buf[pos:end].hex()

    def branch(self) -> str:
        return BRANCH_COOKIE + self._hex(8)

    def tag(self) -> str:
        return self._hex(6)

    def call_id(self) -> str:
        return self._hex(12)
