"""pyVoIP 1.6.8 softphones for the end-to-end tests.

pyVoIP is a real SIP phone that nobody here wrote; it also has two bugs,
both known upstream, that break calls through any RFC 3261 server:

* the INVITE re-sent with credentials after a 401 reuses the branch of the
  challenged INVITE (SIP.py ``SIPClient.invite``), so a server matching
  transactions by branch (§17.2.3) absorbs it as a retransmission and the
  call never starts (tayler6000/pyVoIP#167, fix proposed in PR #245);
* every ACK carries a freshly made To tag instead of the response's
  (``SIPClient.gen_ack``), so the ACK for a 2xx matches no dialog, the 2xx
  is resent until 64*T1 and the call is torn down (tayler6000/pyVoIP#272,
  #312).

``Phone(..., fix_pyvoip=True)`` patches exactly those two methods on its own
SIP client, as the upstream fixes do; ``fix_pyvoip=False`` leaves pyVoIP as
released.  Other pyVoIP habits the tests live with: it only answers MD5
challenges and reads only the first WWW-Authenticate header; it never
answers a 407 on an INVITE (``invite()`` then blocks in ``recv``); an
incoming call reaches ``callCallback`` one second after the INVITE; the
receive loop starts one second after ``start()``; and ``pyVoIP.VoIP`` must
be imported before ``pyVoIP.SIP`` (circular import).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Callable

import pyVoIP.VoIP  # noqa: F401  # before pyVoIP.SIP: the package imports itself in a circle
from pyVoIP.VoIP import CallState, VoIPCall, VoIPPhone
from pyVoIP.VoIP.status import PhoneStatus

from .server import free_port

__all__ = ["CallState", "Phone", "PhoneStatus", "VoIPCall", "heard", "wait_for"]

REGISTER_TIMEOUT = 3  # seconds pyVoIP waits for each REGISTER answer (its default: 30)

# 8-bit unsigned linear audio, pyVoIP's sample format: silence is 0x80, this
# is a loud 500 Hz square wave, 0.5 s long (8000 samples/s).
TONE = bytes([0x20] * 8 + [0xE0] * 8) * 250


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def heard(call: VoIPCall, timeout: float) -> bool:
    """True once ``call`` has received non-silent audio (within ``timeout``)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        chunk = call.read_audio(160, blocking=False)
        if max(abs(b - 0x80) for b in chunk) > 32:
            return True
        if chunk == b"\x80" * 160:  # caught up with what has arrived
            time.sleep(0.005)
    return False


def _fix_pyvoip(client: Any) -> None:
    """Patch the two pyVoIP bugs described in the module docstring on ``client``."""
    gen_invite = client.gen_invite
    gen_ack = client.gen_ack
    sent: set[str] = set()

    def invite(number: str, sess_id: str, ms: Any, sendtype: Any, branch: str, call_id: str) -> str:
        if call_id in sent:  # the retry with credentials: a new transaction
            branch = client.gen_branch()
        sent.add(call_id)
        return str(gen_invite(number, sess_id, ms, sendtype, branch, call_id))

    def ack(response: Any) -> str:
        text = str(gen_ack(response))
        to = response.headers["To"]
        if not to["tag"]:
            return text
        lines = text.split("\r\n")
        lines = [f"To: {to['raw']};tag={to['tag']}" if line.startswith("To: ") else line for line in lines]
        return "\r\n".join(lines)

    client.gen_invite = invite
    client.gen_ack = ack


class Phone:
    """A pyVoIP phone registered as ``extension`` on loopback, with its own
    SIP port and one RTP port.  With ``answer=True`` it answers every call
    and puts the answered :class:`VoIPCall` on ``answered``."""

    def __init__(
        self,
        server: tuple[str, int],
        extension: str,
        password: str,
        *,
        answer: bool = False,
        fix_pyvoip: bool = True,
    ) -> None:
        self.extension = extension
        self.sip_port = free_port()
        self.rtp_port = free_port()
        self.answered: queue.Queue[VoIPCall] = queue.Queue()
        self.errors: list[BaseException] = []
        self.phone = VoIPPhone(
            server[0],
            server[1],
            extension,
            password,
            myIP="127.0.0.1",
            callCallback=self._on_call if answer else None,
            sipPort=self.sip_port,
            rtpPortLow=self.rtp_port,
            rtpPortHigh=self.rtp_port,
        )
        self.phone.sip.register_timeout = REGISTER_TIMEOUT
        if fix_pyvoip:
            _fix_pyvoip(self.phone.sip)

    @property
    def status(self) -> PhoneStatus:
        return self.phone.get_status()

    def start(self) -> None:
        """Register (synchronously: pyVoIP sends REGISTER from ``start``).  A
        refused registration does not raise: pyVoIP retries in the background
        and, after three failures, stops itself with status FAILED."""
        self.phone.start()

    def _on_call(self, call: VoIPCall) -> None:
        try:
            call.answer()
        except BaseException as err:  # a pyVoIP thread: keep it for the test
            self.errors.append(err)
            return
        self.answered.put(call)

    def call(self, number: str, timeout: float = 5.0) -> VoIPCall:
        """Dial ``number``.  pyVoIP's ``call()`` blocks in ``recv`` until the
        INVITE's first answer, with no timeout: run it in a thread, and if it
        hangs, wake it with a datagram it cannot parse."""
        result: list[VoIPCall] = []
        errors: list[BaseException] = []

        def dial() -> None:
            try:
                result.append(self.phone.call(number))
            except BaseException as err:
                errors.append(err)

        t = threading.Thread(target=dial, name=f"dial {self.extension}->{number}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self._poke()
            t.join(2.0)
            raise TimeoutError(f"pyVoIP's call({number!r}) got no answer to its INVITE in {timeout} s")
        if errors:
            raise errors[0]
        return result[0]

    def _poke(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"WAKE UP\r\n\r\n", ("127.0.0.1", self.sip_port))
        finally:
            s.close()

    def stop(self) -> None:
        """Hang up what is up and unregister (bounded by REGISTER_TIMEOUT)."""
        try:
            self.phone.stop()
        except OSError:  # stopped already (pyVoIP closes its socket on failure)
            pass
