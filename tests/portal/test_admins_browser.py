"""Administrators from the browser: a system administrator adds a group
administrator, who logs in, sees only their group and makes an API token of
it; the audit log shows both changes, to both of them; the pages fit a phone."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from .conftest import ROOT_PW, Office, login, shot

DORA_PW = "dora's password 1"


def test_add_a_group_administrator_who_sees_only_their_group(browser: Browser, page: Page, office: Office) -> None:
    url = office.url
    login(page, url, "root", ROOT_PW)
    page.get_by_role("link", name="Administrators").click()
    page.get_by_label("Name").fill("dora")
    page.get_by_label("Role", exact=True).select_option(label="One group")
    page.get_by_label("Group", exact=True).select_option("sales")
    page.get_by_label("New password", exact=True).fill("too short")
    page.get_by_label("New password again").fill("too short")
    page.get_by_role("button", name="Add").click()  # the browser's minlength stops it: no request
    expect(page.get_by_label("New password", exact=True)).to_have_js_property("validity.tooShort", True)
    expect(page.get_by_role("status")).to_have_count(0)
    page.get_by_label("New password", exact=True).fill(DORA_PW)
    page.get_by_label("New password again").fill(DORA_PW)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("Added administrator dora")
    row = page.get_by_role("row").filter(has_text="dora")
    expect(row).to_contain_text("group")
    expect(row).to_contain_text("sales")
    shot(page, "admins")

    context = browser.new_context(viewport={"width": 1100, "height": 800})
    dora = context.new_page()
    dora.set_default_timeout(10_000)
    try:
        login(dora, url, "dora", DORA_PW)
        expect(dora.get_by_role("navigation", name="Main").get_by_role("link", name="Administrators")).to_have_count(0)
        dora.get_by_role("link", name="Groups").click()
        expect(dora.get_by_role("link", name="sales", exact=True)).to_be_visible()
        expect(dora.get_by_role("link", name="default", exact=True)).to_have_count(0)
        refused = dora.goto(url + "/admins")
        assert refused is not None and refused.status == 403
        dora.goto(url + "/tokens")
        expect(dora.get_by_label("Role", exact=True)).to_have_value("group")
        dora.get_by_label("Name").fill("sales-crm")
        dora.get_by_role("button", name="Make the token").click()
        expect(dora.get_by_role("status")).to_contain_text("shown this once")
        token = dora.get_by_label("Token").input_value()
        assert re.fullmatch(r"[0-9a-f]{64}", token)
        dora.reload()  # shown once: not on the page again
        expect(dora.get_by_label("Token")).to_have_count(0)
        assert token not in dora.content()
        dora.get_by_role("link", name="Audit log").click()
        expect(dora.get_by_text("of group sales")).to_be_visible()
        expect(dora.get_by_role("row").filter(has_text="token.add")).to_contain_text("sales-crm")
    finally:
        context.close()

    page.get_by_role("link", name="Audit log").click()
    added = page.get_by_role("row").filter(has_text="admin.add").filter(has_text="dora")
    expect(added).to_contain_text("root")
    made = page.get_by_role("row").filter(has_text="token.add").filter(has_text="sales-crm")
    expect(made).to_contain_text("dora")
    page.get_by_label("Administrator").select_option("dora")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row").filter(has_text="admin.add")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="token.add")).to_have_count(1)
    page.get_by_label("Administrator").select_option("")
    page.get_by_role("button", name="Show").click()
    shot(page, "audit")
    assert token not in office.server.output() and DORA_PW not in office.server.output()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone's screen: wide tables scroll in their box
    for path in ("/admins", "/tokens", "/audit", "/account"):
        page.goto(url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
