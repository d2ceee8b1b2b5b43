"""Guessing-protection state kept across a restart.

The account-code lockout and the credential guard live in memory
(:class:`dialplan.lockout.Lockout`); without this a guesser could reset
them by getting the server restarted.  Their snapshots (times relative to
the moment they are taken, since the loop's monotonic clock starts again
with the process) are written to ``lockouts.json`` in the data directory at
shut-down and every ``SAVE_INTERVAL`` seconds while something is locked or
counted, and read back at start-up, aged by the wall-clock time between.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from dialplan.lockout import Lockout, LockoutState

log = logging.getLogger("b2bua.security")

LOCKOUT_FILE = "lockouts.json"
SAVE_INTERVAL = 10.0  # seconds between saves while the server runs


class SavedLockouts(msgspec.Struct, frozen=True, kw_only=True):
    saved_at: float  # wall-clock seconds (time.time()) of the snapshot
    codes: LockoutState = LockoutState()  # wrong account codes
    credentials: LockoutState = LockoutState()  # wrong passwords


def save(data_dir: str | Path, codes: Lockout, credentials: Lockout | None, now: float, wall: float) -> None:
    """Write both snapshots atomically (a failure is logged, never raised)."""
    path = Path(data_dir) / LOCKOUT_FILE
    state = SavedLockouts(
        saved_at=wall,
        codes=codes.snapshot(now),
        credentials=credentials.snapshot(now) if credentials is not None else LockoutState(),
    )
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.encode(state))
        tmp.replace(path)
    except OSError as err:
        log.warning("cannot save the lockout state to %s: %s", path, err.strerror)


def restore(data_dir: str | Path, codes: Lockout, credentials: Lockout | None, now: float, wall: float) -> int:
    """Load what :func:`save` wrote; returns the keys restored (0 when there was
    nothing, or a file that cannot be read: logged, and the server starts clean)."""
    path = Path(data_dir) / LOCKOUT_FILE
    try:
        state = msgspec.json.decode(path.read_bytes(), type=SavedLockouts)
    except FileNotFoundError:
        return 0
    except (OSError, msgspec.DecodeError) as err:
        log.warning("ignoring the lockout state in %s: %s", path, err)
        return 0
    elapsed = max(0.0, wall - state.saved_at)
    codes.restore(state.codes, now, elapsed_s=elapsed)
    if credentials is not None:
        credentials.restore(state.credentials, now, elapsed_s=elapsed)
    restored = len(codes) + (len(credentials) if credentials is not None else 0)
    if restored:
        log.info("restored the guessing-protection state of %d extensions, addresses and users", restored)
    return restored
