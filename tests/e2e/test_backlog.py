"""The overload probe's signal: bytes queued in a UDP socket's kernel receive
buffer, read from /proc/net/udp by socket inode."""

from __future__ import annotations

import os
import socket
import time

import pytest

from b2bua.transport.backlog import udp_backlog


@pytest.mark.skipif(not os.path.exists("/proc/net/udp"), reason="Linux /proc needed")
def test_udp_backlog_counts_unread_datagrams() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        inode = os.fstat(rx.fileno()).st_ino
        assert udp_backlog({inode}) == 0
        for _ in range(20):
            tx.sendto(b"x" * 500, rx.getsockname())
        time.sleep(0.05)
        queued = udp_backlog({inode})
        assert queued is not None and queued >= 20 * 500  # kernel accounting adds overhead
        rx.setblocking(False)
        while True:
            try:
                rx.recv(2048)
            except BlockingIOError:
                break
        assert udp_backlog({inode}) == 0
        assert udp_backlog({inode + 10_000_000}) is None  # not a socket of ours
    finally:
        rx.close()
        tx.close()
