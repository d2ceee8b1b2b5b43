"""Live calls in the browser: a SIPp call in progress appears without a reload,
with its caller, number and account code; ending it from the portal sends the
BYE (the SIPp caller, waiting for it, ends cleanly)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.server import free_port
from tests.e2e.sipp import SIPP, Sipp, sipp_args
from tests.e2e.test_calls import Rig, settle
from tests.web.client import ROOT_PW, SALES_PW, Client, add_admin

from .conftest import live_calls_page, shot


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    if SIPP is None:
        pytest.fail("sipp is missing: install Debian's sip-tester (bash tests/run.sh does)")
    r = Rig(tmp_path)
    add_admin(tmp_path, "root", ROOT_PW, config=tmp_path / "b2bua.toml")
    add_admin(tmp_path, "sales", SALES_PW, group="sales", config=tmp_path / "b2bua.toml")
    yield r
    r.close()


def test_a_live_call_shows_up_and_is_ended_from_the_portal(browser: Browser, rig: Rig) -> None:
    url = rig.server.http_url
    port = free_port()
    rig.register("1002", "pw1002", port)
    rig.uas("uas.xml", port)
    with live_calls_page(browser, url) as page:
        expect(page.get_by_text("0 calls in progress")).to_be_visible()
        caller = Sipp(sipp_args("uac_wait_bye.xml", rig.target, port=free_port(), service="1002", user="1001",
                                password="pw1001", variables={"caller": "1001"}), rig.tmp, "uac")
        rig.procs.append(caller)
        row = page.locator("#calls tbody tr").filter(has_text="1001")
        expect(row).to_contain_text("answered")  # appeared without a reload
        expect(page.get_by_text("1 call in progress")).to_be_visible()
        shot(page, "calls")
        sales = Client(url)
        assert sales.login("sales", SALES_PW).status == 200
        assert sales.get("/calls.json").body.replace(" ", "") == '{"calls":[]}'  # another group's call
        ref = row.get_attribute("data-ref")
        assert ref and sales.post(f"/calls/{ref}/end", {"csrf": sales.get("/calls").csrf}).status == 403
        row.get_by_role("button", name="End call").click()
        expect(page.get_by_role("status")).to_contain_text("ended")
        assert caller.wait(30) == 0, caller.output()  # the server's BYE reached the caller
        settle(rig)
        assert "ended by administrator root" in rig.server.output()
        page.goto(url + "/audit")  # who ended which call, in the audit log
        expect(page.get_by_role("row").filter(has_text="call.end")).to_contain_text(f"root127.0.0.1call.end{ref}")
