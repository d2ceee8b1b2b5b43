"""``b2bua rates`` and ``b2bua credit`` against a SQLite billing database: the
configured plans seeded, CSV import with line-numbered errors (nothing imported),
export through the spreadsheet guard, top-ups with a required note and a history."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2bua.runtime.cli import main
from tests.configs import SERVER, rate_plan, write_config

CONFIG = SERVER + rate_plan("std", "44", "0.05")


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(write_config(tmp_path, CONFIG))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rates_import_export_list(config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rates", "list", "--config", config) == (0, "std\tEUR\t1 rate(s)\n", "")
    bad = tmp_path / "bad.csv"
    bad.write_text("plan,prefix,price_per_minute\nstd,33,0.02\nstd,3x,0.01\nother,1,0.01\n")
    code, _, err = run(capsys, "rates", "import", str(bad), "--config", config)
    assert code == 1
    assert f"{bad}: line 3: prefix: malformed prefix '3x'" in err
    assert f"{bad}: line 4: plan: no rate plan 'other'" in err
    assert "nothing imported: 2 bad row(s)" in err
    good = tmp_path / "good.csv"
    good.write_text("plan,prefix,price_per_minute,description\nstd,33,0.02,=HYPERLINK(\"x\")\n")
    assert run(capsys, "rates", "import", str(good), "--replace", "--config", config)[:2] == (0, "imported 1 rate(s)\n")
    code, out, _ = run(capsys, "rates", "export", "--config", config)
    assert out.splitlines()[1:] == ["std,33,,0.02,0,0,1,\"'=HYPERLINK(\"\"x\"\")\""]  # --replace dropped 44
    assert run(capsys, "rates", "add-plan", "std", "--config", config)[0] == 2  # exists


def test_credit_topup_needs_a_note_and_is_recorded(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "credit", "create", "acme", "5", "--config", config)[0] == 0
    with pytest.raises(SystemExit):
        main(["credit", "topup", "acme", "2", "--config", config])  # no --note
    capsys.readouterr()
    code, out, _ = run(capsys, "credit", "topup", "acme", "2.50", "--note", "invoice 1", "--config", config)
    assert (code, out) == (0, "acme: balance 7.50 EUR, reserved 0.00, available 7.50\n")
    code, _, err = run(capsys, "credit", "topup", "acme", "-8", "--note", "refund", "--config", config)
    assert code == 2 and "below its reserved credit" in err
    code, out, _ = run(capsys, "credit", "history", "acme", "--config", config)
    top_up, opened = out.splitlines()
    assert code == 0 and top_up.endswith("\t+2.50 EUR\tbalance 7.50\tcli\tinvoice 1")
    assert opened.endswith("\t+5.00 EUR\tbalance 5.00\tcli\taccount created")
    assert run(capsys, "credit", "list", "--config", config)[1] == (
        "acme\tEUR\tbalance 7.50\treserved 0.00\tavailable 7.50\n")


def test_plan_removal_refused_while_named_and_currency_change_confirmed(
        config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rates", "add-plan", "spare", "--currency", "USD", "--config", config)[0] == 0
    assert run(capsys, "codes", "add", "12345", "--rate-plan", "spare", "--config", config)[0] == 0
    code, _, err = run(capsys, "rates", "remove-plan", "spare", "--config", config)
    assert code == 2 and "1 account code(s) (default/12345)" in err
    code, _, err = run(capsys, "rates", "set-currency", "std", "GBP", "--config", config)
    assert code == 2 and "confirm: changing EUR to GBP keeps the 1 rate(s)' prices" in err
    code, out, _ = run(capsys, "rates", "set-currency", "std", "GBP", "--yes", "--config", config)
    assert code == 0 and "rate plan std: GBP from the next call on" in out
    assert run(capsys, "rates", "list", "--config", config)[1].splitlines()[1] == "std\tGBP\t1 rate(s)"
    code, out, _ = run(capsys, "audit", "--config", config)
    assert "plan.change" in out and "std GBP" in out
