"""``default_rate_plan`` and ``group_rate_plans`` may name a plan that exists only
in the billing database: the server checks them at start against it, and refuses
to start, naming the plan, when it holds no such plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.server import ServerProcess, free_port

CONFIG = """
[server]
data_dir = "{data}"
[groups.default]
mode = "optional"
[billing]
default_rate_plan = "db-only"
group_rate_plans = {{default = "db-only"}}
"""


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(tmp / "b2bua.toml")],
                          capture_output=True, text=True, timeout=60, cwd=tmp)


def test_a_plan_named_by_the_file_may_live_in_the_database(tmp_path: Path) -> None:
    config = CONFIG.format(data=tmp_path / "data")
    (tmp_path / "b2bua.toml").write_text(config)
    checked = subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", "check-config", str(tmp_path / "b2bua.toml")],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    port = free_port()
    refused = subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "serve", "--config", str(tmp_path / "b2bua.toml"),
         "--listen", f"udp:127.0.0.1:{port}", "--http-listen", "off"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert refused.returncode == 1
    assert "billing.default_rate_plan names rate plan 'db-only'; billing.group_rate_plans: group 'default' " \
           "names rate plan 'db-only': no such plan in the configuration file or the billing database" in refused.stderr
    assert cli(tmp_path, "rates", "add-plan", "db-only").returncode == 0
    server = ServerProcess(tmp_path, config=config)  # answers SIP: started
    try:
        assert "no such plan" not in server.output()
    finally:
        assert server.stop() == 0
