"""The audit log's retention in a real browser: entries older than
``server.audit_retention_days`` are gone once the server has started (it prunes
at start, then daily), younger ones stay, and the page says how long entries are
kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from b2bua.runtime.audit import DAY, AuditLog
from b2bua.runtime.admin_db import SqliteAdminDb
from b2bua.runtime.store import open_database
from tests.web.client import running_office

from .conftest import CONFIG, ROOT_PW, Office, login


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    tmp = tmp_path_factory.mktemp("audit-retention")
    db = SqliteAdminDb(open_database(tmp / "data"))  # entries written before the server starts
    log = AuditLog(db)
    now = time.time()
    log.record("olduser", "code.add", "***01", group="default", now=now - 45 * DAY)
    log.record("recentuser", "code.add", "***02", group="default", now=now - 5 * DAY)
    db.close()
    yield from running_office(tmp, CONFIG.replace("[server]\n", "[server]\naudit_retention_days = 30\n"))


def test_entries_past_the_retention_are_gone(page: Page, office: Office) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.goto(office.url + "/audit")
    expect(page.get_by_text("Entries older than 30 days are deleted.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="recentuser")).to_contain_text("***02")
    expect(page.get_by_role("row").filter(has_text="olduser")).to_have_count(0)
    expect(page.get_by_label("Administrator").locator("option", has_text="olduser")).to_have_count(0)
