"""Business groups made and deleted in the database: names checked, deletion
refused while anything belongs to the group (the refusal names it), a deleted
configured group not seeded again, a user moved to a database group (and the
running server's copy follows), and a change with its audit entry kept together
or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2bua.runtime import groups
from b2bua.runtime.admins import AdminStore
from b2bua.runtime.audit import AuditLog, Entry
from b2bua.runtime.code_settings import GroupConflict, LiveSettings, SettingsError, SettingsStore, user_from_fields
from b2bua.runtime.codes import CodeStore
from b2bua.runtime.config import loads
from dialplan.codes import AccountCode
from dialplan.policy import GroupPolicy, Mode

from tests.conftest import AdminBackend

TOML = """
[groups.default]
mode = "optional"
[groups.spare]
mode = "optional"
[[users]]
extension = "1001"
password = "pw"
[[users]]
extension = "1002"
password = "pw"
"""


@pytest.fixture
def store(admin_backend: AdminBackend) -> SettingsStore:
    s = SettingsStore(admin_backend.open(), loads(TOML))
    s.seed()
    return s


@pytest.mark.parametrize("name", ["", "-lead", "a b", "x" * 33, "a<b>", "=cmd", "new", "ä"])
def test_a_bad_name_is_refused_naming_the_field(store: SettingsStore, name: str) -> None:
    with pytest.raises(SettingsError) as err:
        groups.create(store, name, GroupPolicy(), "root")
    assert err.value.field == "group"
    assert store.names() == ["default", "spare"]


def test_made_listed_and_not_twice(store: SettingsStore) -> None:
    groups.create(store, "lab.2", GroupPolicy(mode=Mode.MANDATORY, code_length=4), "root")
    assert store.names() == ["default", "lab.2", "spare"]
    assert store.group("lab.2").settings.code_length == 4
    with pytest.raises(GroupConflict, match="exists already"):
        groups.create(store, "lab.2", GroupPolicy(), "root")
    with pytest.raises(GroupConflict, match="made in the database"):
        store.reset_group("lab.2")  # nothing in the file to go back to


def test_delete_refused_while_in_use_naming_what_belongs(store: SettingsStore) -> None:
    groups.create(store, "lab", GroupPolicy(), "root")
    store.set_user("1002", user_from_fields("", ""), "root", "lab")
    CodeStore(store.db).add("lab", AccountCode(code="12345"))
    AdminStore(store.db).add("labboss", "a-long-password", group="lab")
    with pytest.raises(GroupConflict) as err:
        groups.delete(store, "lab", "root")
    text = str(err.value)
    assert "1 user(s) (1002)" in text and "1 account code(s)" in text and "group administrator(s) (labboss)" in text
    assert "lab" in store.names()
    store.set_user("1002", user_from_fields("", ""), "root", "default")  # moved back
    store.db.execute("DELETE FROM account_codes WHERE grp = 'lab'")
    AdminStore(store.db).remove("labboss")
    groups.delete(store, "lab", "root")
    assert store.names() == ["default", "spare"]
    with pytest.raises(SettingsError, match="unknown group 'lab'"):
        groups.delete(store, "lab", "root")


def test_a_deleted_configured_group_is_not_seeded_again(store: SettingsStore, admin_backend: AdminBackend) -> None:
    groups.delete(store, "spare", "root")
    again = SettingsStore(admin_backend.open(), loads(TOML))
    again.seed()
    assert again.names() == ["default"]
    with pytest.raises(SettingsError):
        again.group("spare")
    groups.create(again, "spare", GroupPolicy(), "root")  # made again: a group like any other
    assert again.names() == ["default", "spare"]


def test_a_moved_user_follows_the_new_group(store: SettingsStore) -> None:
    groups.create(store, "lab", GroupPolicy(mode=Mode.MANDATORY, code_length=4), "root")
    CodeStore(store.db).add("lab", AccountCode(code="4444"))
    with pytest.raises(SettingsError) as err:  # a code of the old group is checked against the new one
        store.set_user("1001", user_from_fields("", "4444"), "root", "nowhere")
    assert err.value.field == "group"
    before = store.db.version()
    store.set_user("1001", user_from_fields("", "4444"), "root", "lab")
    assert store.user("1001").group == "lab" and [u.extension for u in store.users("lab")] == ["1001"]
    assert store.db.version() > before  # the other nodes' pollers reload
    live = LiveSettings(store.config)
    copy = live.read(store.db)
    assert copy.user_groups == {"1001": "lab"} and copy.groups["lab"].code_length == 4
    before = store.db.version()
    store.db.execute("DELETE FROM user_groups WHERE extension = ?", ("1001",))  # the move alone undone
    assert store.db.version() > before
    store.reset_user("1001")  # the file's group again
    assert store.user("1001").group == "default"
    assert live.read(store.db).user_groups == {}


def test_a_deleted_group_leaves_the_running_copy(store: SettingsStore) -> None:
    live = LiveSettings(store.config)
    live.apply(live.read(store.db))
    groups.delete(store, "spare", "root")
    assert "spare" not in live.read(store.db).groups


def test_no_configured_group_means_no_groups_made(admin_backend: AdminBackend) -> None:
    bare = SettingsStore(admin_backend.open(), loads('[[users]]\nextension = "1001"\npassword = "pw"\n'))
    with pytest.raises(SettingsError, match="account codes are off"):
        groups.create(bare, "lab", GroupPolicy(), "root")


def test_a_change_and_its_audit_entry_are_one_transaction(store: SettingsStore) -> None:
    audit = AuditLog(store.db)
    entry = Entry(actor="root", action="group.add", object="lab", group="lab")
    audit.atomic(lambda: groups.create(store, "lab", GroupPolicy(), "root"), entry)
    assert audit.search()[0] == 1 and "lab" in store.names()
    # the entry cannot be written (its table is gone, as a broken database's): the change is undone too
    store.db.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
    with pytest.raises(store.db.Error, match="audit_log"):
        audit.atomic(lambda: groups.create(store, "lab2", GroupPolicy(), "root"),
                     Entry(actor="root", action="group.add", object="lab2"))
    assert "lab2" not in store.names()
    admins = AdminStore(store.db)  # a store whose own writes are transactions joins the entry's
    with pytest.raises(store.db.Error):
        audit.atomic(lambda: admins.add("carol", "a-long-password"), Entry(actor="root", action="admin.add", object="carol"))
    assert admins.get("carol") is None


def test_the_command_line_makes_moves_and_deletes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from b2bua.runtime.cli import main

    cfg = tmp_path / "b2bua.toml"
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n' + TOML)

    def run(*args: str) -> tuple[int, str]:
        code = main([*args, "--config", str(cfg)])
        out = capsys.readouterr()
        return code, out.out + out.err

    assert run("groups", "add", "lab", "--code-length", "4", "--mode", "mandatory") == (0, "group lab: made\n")
    assert "lab          mandatory; 4 digits" in run("groups", "list")[1]
    code, text = run("groups", "add", "lab")
    assert code == 1 and "exists already" in text
    assert run("users", "set", "1001", "--group", "lab")[1] == "user 1001: code settings set, moved to group lab\n"
    code, text = run("groups", "remove", "lab")
    assert code == 1 and "1 user(s) (1001)" in text
    assert run("users", "reset", "1001")[0] == 0  # the file's group again
    assert run("groups", "remove", "lab") == (0, "group lab: deleted\n")
    assert run("admin", "add", "x", "--group", "lab", "--password-stdin")[0] != 0  # no such group any more
    code, text = run("audit")
    for action in ("group.add", "user.change", "user.reset", "group.remove"):
        assert action in text
