"""Setting a live call's account code in the browser: a SIPp phone's call to
the SIPp carrier is held up; the live view shows its running cost; a code the
rules refuse is answered with the rule and changes nothing; an accepted code
shows in the row at once; a group administrator of another group is refused;
after the call is ended its record has two segments, the second set by the
administrator from the portal."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.server import free_port, wait_codes
from tests.e2e.sipp import SIPP, Sipp, sipp_args
from tests.e2e.test_billing import BILLED_OFFICE, cli
from tests.e2e.test_calls import Rig, settle
from tests.web.client import ROOT_PW, SALES_PW, Client, add_admin

from .conftest import live_calls_page, shot


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    if SIPP is None:
        pytest.fail("sipp is missing: install Debian's sip-tester (bash tests/run.sh does)")
    extra = BILLED_OFFICE.replace('mode = "classes"', 'mode = "optional"') + '\n[groups.sales]\nmode = "optional"\n'
    rig = Rig(tmp_path, extra=extra, carrier_port=free_port())
    for name, password, group in (("root", ROOT_PW, None), ("sales", SALES_PW, "sales")):
        add_admin(tmp_path, name, password, group=group, config=tmp_path / "b2bua.toml")
    assert cli(rig, "codes", "add", "12345", "--name", "Acme", "--rate-plan", "client").returncode == 0
    wait_codes(rig.data, count=1)
    yield rig
    rig.close()


def test_set_a_live_calls_code_from_the_portal(browser: Browser, office: Rig) -> None:
    url = office.server.http_url
    office.uas("uas.xml", office.carrier_port)
    with live_calls_page(browser, url) as page:
        phone = Sipp(sipp_args("uac_wait_bye.xml", office.target, port=free_port(), service="2125551234",
                               user="1001", password="pw1001", variables={"caller": "1001"}), office.tmp, "phone")
        office.procs.append(phone)
        row = page.locator("#calls tbody tr").filter(has_text="2125551234")
        expect(row).to_contain_text("answered")
        # standard plan, 212: setup 0.05 + the 30 s minimum at 0.12/min = 0.11 from the answer on
        expect(row).to_contain_text("0.11 EUR")
        ref = row.get_attribute("data-ref")
        assert ref

        row.get_by_label("Account code for the call from 1001").fill("99999")  # not in the list
        row.get_by_role("button", name="Set code").click()
        expect(page.get_by_role("status")).to_contain_text("Account code not set: ")
        expect(row).not_to_contain_text("99999")

        sales = Client(url)
        assert sales.login("sales", SALES_PW).status == 200
        assert sales.post(f"/calls/{ref}/code", {"csrf": sales.get("/calls").csrf, "code": "12345"}).status == 403

        row.get_by_label("Account code for the call from 1001").fill("12345")
        row.get_by_role("button", name="Set code").click()
        expect(page.get_by_role("status")).to_contain_text("account code set")
        expect(row.locator("td").nth(3)).to_have_text("12345")
        shot(page, "calls-code")
        row.get_by_role("button", name="End call").click()
        expect(page.get_by_role("status")).to_contain_text("ended")
        assert phone.wait(30) == 0, phone.output()
        settle(office)

        page.goto(url + "/audit")  # the code set and the call ended, in the audit log
        for action in ("call.code", "call.end"):
            expect(page.get_by_role("row").filter(has_text=action)).to_contain_text(f"root127.0.0.1{action}{ref}")
        page.goto(url + "/records?code=12345")
        for _ in range(40):  # the record is written through the queue
            if page.locator("#records tbody a").count():
                break
            page.wait_for_timeout(250)
            page.reload()
        page.locator("#records tbody a").first.click()
        segments = page.locator("#segments tbody tr")
        expect(segments).to_have_count(2)
        expect(segments.nth(0).locator("td").nth(1)).to_have_text("")
        expect(segments.nth(1).locator("td").nth(1)).to_have_text("12345")
        expect(segments.nth(1).locator("td").nth(2)).to_have_text("root")
        expect(segments.nth(1).locator("td").nth(3)).to_have_text("portal")
        assert "set by 'root'" in office.server.output()
