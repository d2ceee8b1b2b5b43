"""Reliable provisional responses (RFC 3262) through the real server, with SIPp:
a caller that requires 100rel PRACKs the server's 183, and the server PRACKs
the callee's reliable 183, before the call is answered and hung up."""

from __future__ import annotations

from .server import free_port
from .sipp import SIPP
from .test_calls import Rig, rig, settle  # noqa: F401  (rig is a fixture)

import pytest

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")


def test_reliable_183_both_ways(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas_100rel.xml", port)
    assert rig.uac("uac_100rel.xml", "1002") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    status = settle(rig)
    assert status["calls_started"] == 1 and status["calls_answered"] == 1 and status["calls_ended"] == 1
    assert status["calls_failed"] == 0
