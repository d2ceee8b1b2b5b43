"""The guessing-protection state file (b2bua.runtime.lockstate)."""

from __future__ import annotations

from pathlib import Path

from b2bua.runtime import lockstate
from dialplan.lockout import Lockout

EXT = ("ext", "1001")
USER = ("cred", "1002@192.0.2.7")


def locked_pair() -> tuple[Lockout, Lockout]:
    codes, creds = Lockout(3, 300.0, 900.0), Lockout(10, 600.0, 300.0)
    for t in (1.0, 2.0, 3.0):
        codes.record_failure([EXT], t)
    for t in range(10):
        creds.record_failure([USER], 10.0 + t)
    assert codes.check([EXT], 20.0) and creds.check([USER], 20.0)
    return codes, creds


def test_locks_survive_a_save_and_a_restore_aged_by_the_time_between(tmp_path: Path) -> None:
    codes, creds = locked_pair()
    lockstate.save(tmp_path, codes, creds, now=20.0, wall=1_000_000.0)
    # a new process: its monotonic clock starts again; 100 s of wall time went by
    codes2, creds2 = Lockout(3, 300.0, 900.0), Lockout(10, 600.0, 300.0)
    assert lockstate.restore(tmp_path, codes2, creds2, now=5.0, wall=1_000_100.0) == 2
    assert codes2.check([EXT], 5.0) and creds2.check([USER], 5.0)
    # each lock ends when it would have: 900 s after the code lock began (at 3.0 - 20.0 + 5.0 - 100.0)
    assert codes2.check([EXT], 5.0 + 900.0 - 117.0 - 1.0) and not codes2.check([EXT], 5.0 + 900.0 - 117.0 + 1.0)
    assert not creds2.check([USER], 5.0 + 300.0)


def test_a_missing_or_broken_file_starts_clean(tmp_path: Path) -> None:
    codes, creds = Lockout(3, 300.0, 900.0), Lockout(10, 600.0, 300.0)
    assert lockstate.restore(tmp_path, codes, creds, now=0.0, wall=0.0) == 0
    (tmp_path / lockstate.LOCKOUT_FILE).write_text("{not json")
    assert lockstate.restore(tmp_path, codes, creds, now=0.0, wall=0.0) == 0
    assert len(codes) == 0 and len(creds) == 0
