"""The audit log (b2bua.runtime.audit) on real SQLite and PostgreSQL databases, and the
command line's entries and ``b2bua audit``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from b2bua.runtime.audit import CLI, AuditLog, export_csv
from tests.conftest import AdminBackend
from tests.billing.test_rates_cli import CONFIG as RATES_CLI_CONFIG
from tests.test_code_settings import TOML
from tests.configs import write_config


@pytest.fixture
def log(admin_backend: AdminBackend) -> AuditLog:
    return AuditLog(admin_backend.open())


def test_search_filters_pages_and_scopes_by_group(log: AuditLog) -> None:
    log.record("root", "code.add", "***45", group="sales", address="192.0.2.1", now=100)
    log.record("token:crm", "code.change", "***45", group="sales", now=200)
    log.record("root", "admin.add", "carol", now=300)
    total, newest = log.search(limit=2)
    assert total == 3 and [e.action for e in newest] == ["admin.add", "code.change"]
    assert [e.action for e in log.search(offset=2)[1]] == ["code.add"]
    assert [e.actor for e in log.search("sales")[1]] == ["token:crm", "root"]
    assert [e.object for e in log.search(actor="root", action="code.add")[1]] == ["***45"]
    assert log.search("default") == (0, [])
    assert log.actors() == ["root", "token:crm"] and log.actors("other") == []
    first = log.search(action="code.add")[1][0]
    assert first.address == "192.0.2.1" and first.at == 100 and first.group == "sales"


def test_an_unknown_action_is_refused_and_text_is_bounded(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        log.record("root", "drop.tables", "x")
    log.record("r" * 500, "code.add", "o" * 500)
    entry = log.search()[1][0]
    assert len(entry.actor) == 200 and len(entry.object) == 200


def test_export_guards_formulas(log: AuditLog) -> None:
    log.record("root", "credit.create", "=cmd|' /C calc'!A0", now=0)
    text = export_csv(log.search()[1])
    assert text.splitlines()[1] == "1970-01-01 00:00:00,root,,credit.create,'=cmd|' /C calc'!A0,"


def _cli(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", *args], input=stdin, cwd=tmp,
                          capture_output=True, text=True, timeout=60)


def test_command_line_changes_are_audited_and_listed(tmp_path: Path) -> None:
    assert _cli(tmp_path, "admin", "add", "root", "--password-stdin", stdin="a long password\n").returncode == 0
    assert _cli(tmp_path, "codes", "add", "12345").returncode == 0
    assert _cli(tmp_path, "codes", "disable", "12345").returncode == 0
    assert _cli(tmp_path, "api-token", "add", "crm").returncode == 0
    assert _cli(tmp_path, "admin", "remove", "root").returncode == 0
    listed = _cli(tmp_path, "audit")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert [line.split()[4] for line in lines] == ["admin.remove", "token.add", "code.disable", "code.add",
                                                 "admin.add"]
    assert all(line.split()[2] == CLI and line.split()[3] == "-" for line in lines)  # no address
    assert "***45  [default]" in lines[2] and "12345" not in listed.stdout and "long password" not in listed.stdout
    only = _cli(tmp_path, "audit", "--action", "code.add", "--csv")
    assert only.stdout.splitlines()[1].endswith(",cli,,code.add,***45,default")
    assert _cli(tmp_path, "audit", "--limit", "1").stderr.startswith("... 4 older")
    bad = _cli(tmp_path, "audit", "--action", "nope")
    assert bad.returncode == 2 and "action: one of" in bad.stderr


CONFIG = RATES_CLI_CONFIG + TOML  # plan std in the billing database; groups default and sales, users


def test_settings_rates_and_credit_commands_are_audited(tmp_path: Path) -> None:
    config = write_config(tmp_path, CONFIG)
    rates = tmp_path / "rates.csv"
    rates.write_text("plan,prefix,price_per_minute\nstd,33,0.02\n")
    for args in (("groups", "set", "sales", "--mode", "off"), ("groups", "reset", "sales"),
                 ("users", "set", "1002", "--mode", "mandatory", "--code", ""), ("users", "reset", "1002"),
                 ("rates", "add-plan", "intl", "--currency", "USD"), ("rates", "import", str(rates)),
                 ("rates", "remove-plan", "intl"), ("credit", "create", "acme", "5"),
                 ("credit", "topup", "acme", "2.5", "--note", "invoice 17")):
        proc = _cli(tmp_path, *args, "--config", str(config))
        assert proc.returncode == 0, (args, proc.stderr)
    out = _cli(tmp_path, "audit", "--csv", "--config", str(config)).stdout
    assert [line.split(",", 3)[3] for line in out.splitlines()[1:]] == [
        "credit.change,acme +2.5,", "credit.create,acme,", "plan.remove,intl,", "rates.import,1 rates,",
        "plan.add,intl,", "user.reset,1002,sales", "user.change,1002,sales", "group.reset,sales,sales",
        "group.change,sales,sales",
    ]
    assert all(line.split(",")[1:3] == ["cli", ""] for line in out.splitlines()[1:])
    assert "invoice 17" not in out  # the note stays in the credit history
