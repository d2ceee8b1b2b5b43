"""Identifiers on the wire cannot be predicted from the ones already seen
(RFC 3261 §19.3).  The attack below recovers a Mersenne Twister's state from
624 observed 32-bit outputs (312 branches) and predicts the next branch; it
succeeds against ``random.Random`` and must fail against the server's ids."""

from __future__ import annotations

import random

from b2bua.runtime.ids import BATCH, RandomIds
from b2bua.sip.build import BRANCH_COOKIE


def _untemper(y: int) -> int:
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(5):
        x = y ^ ((x << 7) & 0x9D2C5680)
    y = x & 0xFFFFFFFF
    x = y
    for _ in range(2):
        x = y ^ (x >> 11)
    return x & 0xFFFFFFFF


def _predict_next_branch(branches: list[str]) -> str:
    """Clone a Mersenne Twister from 312 branches made with getrandbits(64)."""
    words: list[int] = []
    for b in branches:
        v = int(b[len(BRANCH_COOKIE):], 16)
        words += [v & 0xFFFFFFFF, v >> 32]  # getrandbits(64): low word first
    state = tuple(_untemper(w) for w in words[:624])
    clone = random.Random()
    clone.setstate((3, state + (624,), None))
    return f"{BRANCH_COOKIE}{clone.getrandbits(64):016x}"


class _TwisterIds:
    """What identifiers must not be made with: seeded well, but predictable."""

    def __init__(self) -> None:
        self._bits = random.Random(b"seed").getrandbits

    def branch(self) -> str:
        return f"{BRANCH_COOKIE}{self._bits(64):016x}"


def test_the_attack_works_on_a_mersenne_twister() -> None:
    ids = _TwisterIds()
    seen = [ids.branch() for _ in range(312)]
    assert _predict_next_branch(seen) == ids.branch()


def test_server_identifiers_cannot_be_predicted() -> None:
    ids = RandomIds()
    seen = [ids.branch() for _ in range(312)]
    assert _predict_next_branch(seen) != ids.branch()


def test_identifiers_have_their_lengths_and_do_not_repeat() -> None:
    ids = RandomIds()
    made = set()
    for _ in range(3 * BATCH // 8):  # crosses several batch refills
        b, t, c = ids.branch(), ids.tag(), ids.call_id()
        assert b.startswith(BRANCH_COOKIE) and len(b) == len(BRANCH_COOKIE) + 16
        assert len(t) == 12 and len(c) == 24
        int(t, 16), int(c, 16), int(b[len(BRANCH_COOKIE):], 16)
        made.update((b, t, c))
    assert len(made) == 3 * (3 * BATCH // 8)
