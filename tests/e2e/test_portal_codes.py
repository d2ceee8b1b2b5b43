"""A code changed in the portal applies to the next SIPp call, as one changed
with ``b2bua codes`` does (the same table, the same reload)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.client import Client, add_admin

from .server import wait_codes
from .sipp import SIPP
from .test_account_codes import outside_call, refused
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")


def test_a_code_added_and_disabled_in_the_portal_rules_the_next_call(tmp_path: Path) -> None:
    rig = Rig(tmp_path, extra=OFFICE)
    try:
        add_admin(tmp_path, "root", "root password 1", config=tmp_path / "b2bua.toml")
        assert "Invalid account code" in refused(rig, "13579**2125551234%23")
        web = Client(rig.server.http_url)
        assert web.login("root", "root password 1").status == 200
        r = web.post("/codes/new", {"csrf": web.get("/codes").csrf, "group": "default", "code": "13579",
                                    "name": "Portal client"})
        assert r.status == 200 and "Added code 13579" in r.body
        wait_codes(rig.data, count=1)
        assert outside_call(rig, "13579**2125551234%23") == 0, rig.last_uac
        r = web.post("/codes/default/13579/active", {"csrf": r.csrf, "active": "no"})
        assert "disabled" in r.body
        wait_codes(rig.data, count=1)
        assert "Invalid account code" in refused(rig, "13579**2125551234%23")
        settle(rig)
    finally:
        rig.close()
