"""Users' and groups' code settings changed with ``b2bua users`` / ``b2bua groups``
while the server runs rule the next SIPp call (the office of test_account_codes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .server import ROOT
from .test_account_codes import office, outside_call, refused
from .test_calls import Rig, settle

__all__ = ["office"]


def reloads(data: Path) -> int:
    try:
        return int(json.loads((data / "status.json").read_text()).get("code_settings_reloads", 0))
    except (OSError, ValueError):
        return 0


def wait_reload(data: Path, before: int, timeout: float = 10.0) -> None:
    """Until the running server's copy of the settings has taken a change (the
    status file, rewritten every second, counts the reloads)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if reloads(data) > before:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server did not take the settings change in {timeout} s")


def settings(rig: Rig, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(rig.tmp / "b2bua.toml")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_a_users_assigned_code_and_a_groups_mode_apply_to_the_next_call(office: Rig) -> None:
    assert "Account code required" in refused(office, "2125551234")
    before = reloads(office.data)
    settings(office, "users", "set", "1001", "--code", "77777")  # "No international"
    wait_reload(office.data, before)
    assert outside_call(office, "2125551234") == 0, office.last_uac  # carries the assigned code
    assert "Assigned account code may not make international calls" in refused(office, "011442071234567")
    before = reloads(office.data)
    settings(office, "users", "reset", "1001")
    settings(office, "groups", "set", "default", "--mode", "optional")
    wait_reload(office.data, before)
    assert outside_call(office, "2125551234") == 0, office.last_uac  # no code needed in mode optional
    before = reloads(office.data)
    settings(office, "groups", "reset", "default")
    wait_reload(office.data, before)
    assert "Account code required" in refused(office, "2125551234")
    settle(office)
