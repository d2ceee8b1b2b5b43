"""Groups' and users' account-code settings in the database: seeded from the
TOML, the database wins, reset goes back to the file, errors name the field,
and the running server's copy follows another process's change."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from b2bua.runtime.code_settings import (
    SEEDED_BY, LiveSettings, SettingsError, SettingsStore, group_from_form, group_to_form, user_from_fields,
)
from b2bua.runtime.codes import CodeStore
from b2bua.runtime.config import loads
from tests.conftest import AdminBackend
from dialplan.codes import AccountCode
from dialplan.policy import Mode
from tests.configs import SERVER, USERS, write_config

TOML = """
[groups.default]
mode = "classes"
required_classes = ["long_distance"]
code_length = 5
fac = "*88"
[groups.sales]
mode = "optional"
""" + USERS + """display_name = "Bob <b>Sales</b>"
account_code = "4321"
"""


@pytest.fixture
def store(admin_backend: AdminBackend) -> SettingsStore:
    s = SettingsStore(admin_backend.open(), loads(TOML))
    assert s.seed() == (2, 2)
    return s


def test_seeded_from_the_file_then_the_database_wins(store: SettingsStore, admin_backend: AdminBackend) -> None:
    row = store.group("default")
    assert row is not None and row.settings.code_length == 5 and row.changed_by == SEEDED_BY
    store.set_group("default", msgspec.structs.replace(row.settings, code_length=4), "root")
    changed = loads(TOML.replace("code_length = 5", "code_length = 7"))
    again = SettingsStore(admin_backend.open(), changed)
    assert again.seed() == (0, 0)  # present already: not overwritten
    kept = again.group("default")
    assert kept is not None and kept.settings.code_length == 4 and kept.changed_by == "root"
    assert again.reset_group("default").code_length == 7  # the file's value again
    reset = again.group("default")
    assert reset is not None and reset.settings.code_length == 7 and reset.changed_by == SEEDED_BY


def test_form_errors_name_the_field() -> None:
    base = group_to_form(group_from_form({"mode": "optional"}))
    cases = {
        "code_length": ("x", "code_length must be a whole number"),
        "mode": ("fac", "mode 'fac' needs a fac"),
        "fac": ("88", "fac must be * or #"),
        "required_classes": ("local2", "required_classes"),
        "required_prefixes": ("1900,9x", "required_prefixes"),
        "prompt": ("loud", "prompt"),
        "prompt_attempts": ("0", "prompt_attempts must be 1 to 10"),
        "prompt_answer": ("maybe", "prompt_answer must be yes or no"),
    }
    for field, (value, text) in cases.items():
        with pytest.raises(SettingsError) as err:
            group_from_form(base | {field: value})
        assert err.value.field == field and text in str(err.value), (field, err.value)
    with pytest.raises(SettingsError) as err:
        group_from_form(base | {"code_length": "20"})
    assert err.value.field == "code_length" and "2 to 14" in str(err.value)
    assert group_from_form(base | {"code_length": ""}).code_length is None  # variable length
    g = group_from_form(base | {"mode": "classes", "required_classes": "long_distance, international"})
    assert group_from_form(group_to_form(g)) == g


def test_users_code_settings(store: SettingsStore) -> None:
    assert [(u.extension, u.group, u.settings.assigned_code) for u in store.users()] == [
        ("1001", "default", None), ("1002", "sales", "4321")]
    with pytest.raises(SettingsError) as err:
        store.set_user("1001", user_from_fields("mandatory", "55555"), "root")
    assert err.value.field == "assigned_code" and "no code 55555 in group 'default'" in str(err.value)
    CodeStore(store.db).add("default", AccountCode(code="55555"))
    store.set_user("1001", user_from_fields("mandatory", "55555"), "root")
    assert store.user("1001").settings.mode is Mode.MANDATORY
    with pytest.raises(SettingsError) as err:
        user_from_fields("sometimes", "")
    assert err.value.field == "mode"
    with pytest.raises(SettingsError) as err:
        store.set_user("1999", user_from_fields("", ""), "root")
    assert err.value.field == "extension"
    assert store.reset_user("1001").mode is None


async def test_the_running_copy_follows_another_process(store: SettingsStore, admin_backend: AdminBackend) -> None:
    config = store.config
    codes = CodeStore(admin_backend.open())
    live = LiveSettings(config)
    seen: list[object] = []
    live.on_change.append(seen.append)
    codes.followers.append(live)
    await codes.start(poll=3600)  # only explicit refreshes here
    try:
        first = live.current
        assert first.groups["default"].code_length == 5
        cli = SettingsStore(admin_backend.open(), config)  # another connection, as `b2bua groups set`
        row = cli.group("default")
        assert row is not None
        cli.set_group("default", msgspec.structs.replace(row.settings, code_length=4), "cli")
        assert await codes.refresh()
        assert live.current.groups["default"].code_length == 4 and seen == [live.current]
        assert first.groups["default"].code_length == 5  # what a call in progress holds is unchanged
        cli.db.execute("UPDATE group_settings SET settings = '{\"code_length\": 99}' WHERE grp = 'default'")
        assert await codes.refresh()
        assert live.current.groups["default"].code_length == 4  # a broken row keeps the previous settings
    finally:
        await codes.stop()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from b2bua.runtime.cli import main

    cfg = write_config(tmp_path, SERVER + TOML)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--config", str(cfg)])
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("groups", "set", "default", "--code-length", "4", "--prompt", "tone")[0] == 0
    code, out, _ = run("groups", "show", "default")
    assert code == 0 and "code_length:      4" in out and "by command line" in out
    code, _, err = run("groups", "set", "default", "--code-length", "40")
    assert code == 1 and "code_length must be 2 to 14" in err
    code, _, err = run("groups", "set", "elsewhere", "--mode", "off")
    assert code == 1 and "unknown group 'elsewhere'" in err
    code, _, err = run("users", "set", "1001", "--code", "12345")
    assert code == 1 and "no code 12345 in group 'default'" in err
    assert run("users", "set", "1001", "--mode", "mandatory")[0] == 0
    code, out, _ = run("users", "list", "--group", "default")
    assert code == 0 and "1001" in out and "mandatory" in out and "1002" not in out
    assert run("groups", "reset", "default")[0] == 0
    assert "5 digits" in run("groups", "list")[1]
