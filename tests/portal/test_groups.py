"""Groups' code settings in a real browser: an administrator changes a group's
code length and the next SIPp call obeys it (a code of the old length refused,
one of the new length accepted); a business-group administrator is refused
another group's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.server import wait_codes
from tests.e2e.sipp import SIPP
from tests.e2e.test_account_codes import codes, outside_call, refused
from tests.e2e.test_calls import OFFICE, Rig, settle
from tests.e2e.test_code_settings_calls import reloads, wait_reload
from tests.web.client import ROOT_PW, SALES_PW, add_admin

from .conftest import login, shot

SALES = """
[groups.sales]
mode = "optional"
prompt = "off"
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    if SIPP is None:
        pytest.fail("sipp is missing: install Debian's sip-tester (bash tests/run.sh does)")
    r = Rig(tmp_path, extra=OFFICE + SALES)
    add_admin(tmp_path, "root", ROOT_PW, config=tmp_path / "b2bua.toml")
    add_admin(tmp_path, "sales", SALES_PW, group="sales", config=tmp_path / "b2bua.toml")
    for code in ("12345", "2468"):
        assert codes(r, "add", code).returncode == 0
    wait_codes(r.data, count=2)
    yield r
    r.close()


def test_change_a_groups_code_length_and_the_next_call_obeys_it(browser: Browser, rig: Rig) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        assert "484 Account code must be 5 digits" in refused(rig, "2468**2125551234%23")
        before = reloads(rig.data)
        url = rig.server.http_url
        login(page, url, "root", ROOT_PW)
        page.get_by_role("link", name="Groups").click()
        row = page.get_by_role("row").filter(has_text="default")
        expect(row).to_contain_text("5 digits")
        row.get_by_role("link", name="default", exact=True).click()
        page.get_by_label("Code length (digits)").fill("40")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_contain_text("code_length must be 2 to 14")
        expect(page.get_by_label("Code length (digits)")).to_have_attribute("aria-invalid", "true")
        page.get_by_label("Code length (digits)").fill("4")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Saved the code settings of group default.")
        expect(page.get_by_role("row").filter(has_text="default")).to_contain_text("4 digits")
        shot(page, "groups")
        wait_reload(rig.data, before)
        assert "484 Account code must be 4 digits" in refused(rig, "12345**2125551234%23")  # the old length
        assert outside_call(rig, "2468**2125551234%23") == 0, rig.last_uac  # the new length: through
        settle(rig)
    finally:
        context.close()


def test_a_group_administrator_is_refused_another_groups_settings(browser: Browser, rig: Rig) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone's screen
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        url = rig.server.http_url
        login(page, url, "sales", SALES_PW)
        page.get_by_role("link", name="Groups").click()
        expect(page.get_by_role("link", name="sales", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="default", exact=True)).to_have_count(0)
        page.get_by_role("link", name="sales", exact=True).click()
        shot(page, "group-settings")
        response = page.goto(url + "/groups/default")
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text("group sales only")
        response = page.goto(url + "/users/1001")  # a user of group default
        assert response is not None and response.status == 403
    finally:
        context.close()


def test_make_a_group_move_a_user_and_the_next_call_obeys_it(browser: Browser, rig: Rig) -> None:
    """A group made in the portal, a configured user moved into it: the user's
    next SIPp call follows the new group's code length; the group cannot be
    deleted while the user (or an administrator, for sales) belongs to it."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        assert "484 Account code must be 5 digits" in refused(rig, "2468**2125551234%23")
        url = rig.server.http_url
        login(page, url, "root", ROOT_PW)
        page.get_by_role("link", name="Groups").click()
        page.get_by_role("link", name="Add a group").click()
        page.get_by_label("Name").fill("<lab>")
        page.get_by_role("button", name="Add the group").click()
        expect(page.get_by_role("alert")).to_contain_text("letters, digits")
        expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
        page.get_by_label("Name").fill("lab")
        page.get_by_label("Mode (when a code is required)").select_option("classes")
        page.get_by_label("Code length (digits)").fill("4")
        page.get_by_label("Validation").select_option("length")
        page.get_by_label("Required call classes (mode classes)").fill("long_distance,international")
        page.get_by_label("Feature access code (FAC)").fill("*88")
        page.get_by_label("Prompting", exact=True).select_option("off")
        page.get_by_role("button", name="Add the group").click()
        expect(page.get_by_role("status")).to_have_text("Made group lab.")
        expect(page.get_by_role("row").filter(has_text="lab")).to_contain_text("4 digits")
        page.get_by_role("button", name="Delete group sales").click()  # its administrator still belongs to it
        expect(page.get_by_role("alert")).to_contain_text("group administrator(s) (sales)")
        before = reloads(rig.data)
        page.goto(url + "/users/1001")
        page.get_by_label("Group").select_option("lab")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("moved from group default to lab")
        shot(page, "group-moved-user")
        wait_reload(rig.data, before)
        assert "484 Account code must be 4 digits" in refused(rig, "12345**2125551234%23")
        assert outside_call(rig, "2468**2125551234%23") == 0, rig.last_uac  # the new group's length: through
        settle(rig)
        page.get_by_role("link", name="Groups").click()
        page.get_by_role("button", name="Delete group lab").click()
        expect(page.get_by_role("alert")).to_contain_text("1 user(s) (1001)")
        page.goto(url + "/users/1001")
        page.get_by_label("Group").select_option("default")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("link", name="Groups").click()
        page.get_by_role("button", name="Delete group lab").click()
        expect(page.get_by_role("status")).to_have_text("Deleted group lab.")
        expect(page.get_by_role("link", name="lab", exact=True)).to_have_count(0)
    finally:
        context.close()
