"""How full the kernel's UDP receive queues are (Linux ``/proc/net/udp``).

The driver's overload probe reads it; kept apart from the sockets so that the
driver does not import the module that imports the driver.
"""

from __future__ import annotations


def udp_backlog(inodes: set[int]) -> int | None:
    """Bytes waiting in the kernel's receive queues of the UDP sockets with
    these inodes (Linux /proc/net/udp{,6} rx_queue); None where unreadable."""
    total = 0
    found = False
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[9].isdigit() and int(parts[9]) in inodes:
                        total += int(parts[4].split(":")[1], 16)
                        found = True
        except (OSError, ValueError, IndexError):
            continue
    return total if found else None
