"""Prometheus ``/metrics``: a collector that reads the running server's own
counters at scrape time (``Server.status()`` and the call log's per-route
counters), so the call path pays nothing for metrics beyond the integer
increments it already did.  One ``CollectorRegistry`` per server (several
servers in one test process do not collide).

Names (``_total`` is added to counters by the exposition):

=====================================  ======================================================
b2bua_calls_started_total{route}       call attempts; route "extension", "trunk:NAME", "none" (refused)
b2bua_calls_answered_total{route}      answered by a callee
b2bua_calls_ended_total{route,status}  ended, by final SIP status (200: answered and hung up)
b2bua_calls_failed_total{route,status} ended with a status of 300 or more
b2bua_calls_active                     calls in progress
b2bua_call_setup_seconds               histogram: attempt start to first ringing or answer
b2bua_event_loop_lag_seconds           smoothed lateness of the event loop (overload probe)
b2bua_overloaded                       1 while new calls are shed with 503
b2bua_calls_shed_total                 INVITEs refused while overloaded
b2bua_cdr_queue_depth                  billing records waiting to be written
b2bua_cdr_journal_bytes                records waiting in the local journal (database down)
b2bua_cdr_written_total, ..._journaled_total, ..._quarantined_total
b2bua_billing_database_up              1 while the billing database answers
b2bua_credit_reservations_total        credit reservations asked of the store
b2bua_credit_cuts_total                calls ended because their credit ran out
b2bua_credit_refusals_total            calls refused before ringing for lack of credit
b2bua_credit_calls_active              calls under credit control
b2bua_account_code_lockouts_total      extensions/addresses locked for wrong codes
b2bua_account_code_locked_attempts_total  calls refused while locked
b2bua_auth_lockouts_total              (user, address) pairs locked for password guessing
b2bua_auth_failures_total              wrong digest credentials
b2bua_auth_locked_attempts_total       right credentials refused while locked
b2bua_registrations                    live registrations (contacts)
b2bua_registrations_expired_total      bindings that expired
b2bua_transactions_active, b2bua_tcp_connections, b2bua_account_codes_loaded, b2bua_uptime_seconds
=====================================  ======================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from b2bua.runtime.calllog import SETUP_BUCKETS, CallLog

if TYPE_CHECKING:
    from b2bua.runtime.server import Server

# status key -> (metric name, kind, help, scale)
SIMPLE: tuple[tuple[str, str, str, str, float], ...] = (
    ("calls", "b2bua_calls_active", "gauge", "Calls in progress.", 1),
    ("transactions", "b2bua_transactions_active", "gauge", "SIP transactions in progress.", 1),
    ("event_loop_lag_ms", "b2bua_event_loop_lag_seconds", "gauge", "Smoothed lateness of the event loop.", 0.001),
    ("overloaded", "b2bua_overloaded", "gauge", "1 while new calls are shed with 503.", 1),
    ("calls_shed", "b2bua_calls_shed", "counter", "INVITEs refused while overloaded.", 1),
    ("billing_pending", "b2bua_cdr_queue_depth", "gauge", "Billing records waiting to be written.", 1),
    ("billing_journal_bytes", "b2bua_cdr_journal_bytes", "gauge", "Bytes of records waiting in the journal.", 1),
    ("billing_written", "b2bua_cdr_written", "counter", "Billing record writes stored.", 1),
    ("billing_journaled", "b2bua_cdr_journaled", "counter", "Billing record writes sent to the journal.", 1),
    ("billing_quarantined", "b2bua_cdr_quarantined", "counter", "Billing record writes the database refused.", 1),
    ("billing_db_up", "b2bua_billing_database_up", "gauge", "1 while the billing database answers.", 1),
    ("credit_reservations", "b2bua_credit_reservations", "counter", "Credit reservations asked of the store.", 1),
    ("credit_cuts", "b2bua_credit_cuts", "counter", "Calls ended because their credit ran out.", 1),
    ("credit_refusals", "b2bua_credit_refusals", "counter", "Calls refused for lack of credit.", 1),
    ("credit_calls", "b2bua_credit_calls_active", "gauge", "Calls under credit control.", 1),
    ("account_code_lockouts", "b2bua_account_code_lockouts", "counter", "Locks for wrong account codes.", 1),
    ("locked_out_attempts", "b2bua_account_code_locked_attempts", "counter", "Calls refused while locked.", 1),
    ("auth_lockouts", "b2bua_auth_lockouts", "counter", "Locks for password guessing.", 1),
    ("auth_failures", "b2bua_auth_failures", "counter", "Wrong digest credentials.", 1),
    ("auth_locked_out_attempts", "b2bua_auth_locked_attempts", "counter", "Right credentials refused while locked.", 1),
    ("registrations", "b2bua_registrations", "gauge", "Live registrations (contacts).", 1),
    ("registrations_expired", "b2bua_registrations_expired", "counter", "Registrations that expired.", 1),
    ("tcp_connections", "b2bua_tcp_connections", "gauge", "Open SIP TCP connections.", 1),
    ("account_codes_loaded", "b2bua_account_codes_loaded", "gauge", "Account codes in the server's copy.", 1),
    ("uptime", "b2bua_uptime_seconds", "gauge", "Seconds since the server started.", 1),
)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


class ServerCollector(Collector):
    """Everything above, read from ``status()`` and ``calllog`` when scraped."""

    def __init__(self, status: Callable[[], Mapping[str, object]], calllog: CallLog,
                 extra: Callable[[], Iterable[Metric]] | None = None) -> None:
        self.status = status
        self.calllog = calllog
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        st = self.status()
        for key, name, kind, doc, scale in SIMPLE:
            value = _number(st.get(key))
            if value is None:
                continue
            family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            yield family(name, doc, value=value * scale)
        log = self.calllog
        started = CounterMetricFamily("b2bua_calls_started", "Call attempts.", labels=["route"])
        for route, n in sorted(log.started.items()):
            started.add_metric([route], n)
        yield started
        answered = CounterMetricFamily("b2bua_calls_answered", "Calls answered by a callee.", labels=["route"])
        for route, n in sorted(log.answered.items()):
            answered.add_metric([route], n)
        yield answered
        ended = CounterMetricFamily("b2bua_calls_ended", "Calls ended, by final SIP status.", labels=["route", "status"])
        failed = CounterMetricFamily("b2bua_calls_failed", "Calls ended with status 300 or more.",
                                     labels=["route", "status"])
        for (route, status), n in sorted(log.ended.items()):
            ended.add_metric([route, str(status)], n)
            if status >= 300:
                failed.add_metric([route, str(status)], n)
        yield ended
        yield failed
        cumulative, buckets = 0, []
        for bound, n in zip(SETUP_BUCKETS, log.setup_counts):
            cumulative += n
            buckets.append((repr(bound), float(cumulative)))
        buckets.append(("+Inf", float(cumulative + log.setup_counts[-1])))
        yield HistogramMetricFamily(
            "b2bua_call_setup_seconds", "Attempt start to the first ringing or answer of a callee.",
            buckets=buckets, sum_value=log.setup_sum,
        )
        if self.extra is not None:
            yield from self.extra()


def registry_for(server: Server, extra: Callable[[], Iterable[Metric]] | None = None) -> CollectorRegistry:
    """A registry of this server's own (not the process-global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(server.status, server.calllog, extra))
    return registry
