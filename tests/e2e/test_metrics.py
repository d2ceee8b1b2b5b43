"""Prometheus /metrics of the running server after real SIPp calls, parsed with
prometheus_client's own parser; scraping while calls run does not disturb them."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .server import free_port
from .sipp import SIPP
from .test_calls import Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_after_real_calls(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        url = rig.server.http_url
        before = scrape(url)
        assert before[("b2bua_calls_active", ())] == 0
        assert before[("b2bua_overloaded", ())] == 0
        port = free_port()
        rig.register("1002", "pw1002", port)
        uas = rig.uas("uas.xml", port, calls=5)
        scrapes: list[int] = []
        stop = threading.Event()

        def keep_scraping() -> None:  # pages served while calls run
            while not stop.is_set():
                scrapes.append(len(scrape(url)))

        t = threading.Thread(target=keep_scraping)
        t.start()
        try:
            assert rig.uac("uac.xml", "1002", calls=5, rate=10) == 0, rig.last_uac
        finally:
            stop.set()
            t.join(10)
        assert uas.wait(30) == 0, uas.output()
        assert rig.uac("uac_fail.xml", "4444") == 0, rig.last_uac  # 404: no route
        settle(rig)
        assert scrapes
        m = scrape(url)
        assert m[("b2bua_calls_started_total", (("route", "extension"),))] == 5
        assert m[("b2bua_calls_started_total", (("route", "none"),))] == 1
        assert m[("b2bua_calls_answered_total", (("route", "extension"),))] == 5
        assert m[("b2bua_calls_ended_total", (("route", "extension"), ("status", "200")))] == 5
        assert m[("b2bua_calls_failed_total", (("route", "none"), ("status", "404")))] == 1
        assert m[("b2bua_call_setup_seconds_count", ())] == 5
        assert m[("b2bua_call_setup_seconds_bucket", (("le", "+Inf"),))] == 5
        assert 0 < m[("b2bua_call_setup_seconds_sum", ())] < 5 * 10
        assert m[("b2bua_calls_active", ())] == 0
        assert m[("b2bua_registrations", ())] == 1
        assert m[("b2bua_auth_failures_total", ())] == 0
        assert m[("b2bua_cdr_written_total", ())] >= 6
        assert m[("b2bua_cdr_queue_depth", ())] == 0
        assert m[("b2bua_billing_database_up", ())] == 1
        for name in ("b2bua_event_loop_lag_seconds", "b2bua_calls_shed_total", "b2bua_credit_reservations_total",
                     "b2bua_credit_cuts_total", "b2bua_account_code_lockouts_total", "b2bua_auth_lockouts_total",
                     "b2bua_cdr_journal_bytes"):
            assert (name, ()) in m, name
    finally:
        rig.close()


def test_grafana_dashboard_names_only_served_metrics() -> None:
    """Every metric the example dashboard queries is one /metrics serves."""
    import re

    from b2bua.web.metrics import SIMPLE

    served = {name for _, name, _, _, _ in SIMPLE} | {
        "b2bua_calls_started", "b2bua_calls_answered", "b2bua_calls_ended", "b2bua_calls_failed",
        "b2bua_call_setup_seconds",
    }
    kinds = {name: kind for _, name, kind, _, _ in SIMPLE}
    dashboard = json.loads((ROOT / "examples" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        for name in re.findall(r"\bb2bua_[a-z_]+", expr):
            base = re.sub(r"_(total|bucket|sum|count)$", "", name)
            assert base in served, f"{name} in {expr!r} is not served"
            if name.endswith("_total"):
                assert kinds.get(base, "counter") == "counter", name
