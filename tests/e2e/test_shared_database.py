"""Two server nodes sharing one PostgreSQL database of administrative data
(``[server] database``): a code added with ``b2bua codes`` is obeyed on the next
SIPp call through either node, and a code disabled is refused, without a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from .server import ROOT, wait_codes
from .sipp import SIPP
from .test_account_codes import outside_call, refused
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")


@pytest.fixture
def nodes(tmp_path: Path, fresh_schema: str) -> Iterator[tuple[Rig, Rig]]:
    setting = f'database = "{fresh_schema}"'
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Rig(tmp_path / "a", extra=OFFICE, server=setting)
    try:
        b = Rig(tmp_path / "b", extra=OFFICE, server=setting)
    except BaseException:
        a.close()
        raise
    yield a, b
    b.close()
    a.close()


def codes(rig: Rig, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "codes", *args, "--config", str(rig.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_code_added_for_one_node_is_obeyed_by_the_other(nodes: tuple[Rig, Rig]) -> None:
    a, b = nodes
    assert "Invalid account code" in refused(b, "13579**2125551234%23")
    codes(a, "add", "13579", "--name", "Shared client")  # the command line of node a
    wait_codes(b.data, count=1)
    assert outside_call(b, "13579**2125551234%23") == 0, b.last_uac
    wait_codes(a.data, count=1)
    codes(b, "disable", "13579")
    wait_codes(a.data)
    assert "Invalid account code" in refused(a, "13579**2125551234%23")
    settle(a)
    settle(b)
