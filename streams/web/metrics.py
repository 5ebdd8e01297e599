"""Prometheus metrics of the web layer (console, Open311, access control), in the product's registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams.metrics import LATENCY_BUCKETS, REGISTRY

__all__ = ["AUDIT_EVENTS", "CONSOLE_CLIENTS", "OPEN311_REQUESTS", "RATE_LIMITED", "REPORT_SECONDS"]

OPEN311_REQUESTS = Counter(
    "cityops_open311_requests", "Open311 service requests received, by outcome", ["outcome"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "cityops_rate_limited", "Requests refused by a rate limit, by endpoint", ["endpoint"], registry=REGISTRY
)
CONSOLE_CLIENTS = Gauge(
    "cityops_console_clients", "Live console connections (server-sent events) on this worker",
    registry=REGISTRY,
)
AUDIT_EVENTS = Counter(
    "cityops_audit_events", "Audited writes, by action and outcome", ["action", "outcome"], registry=REGISTRY
)
REPORT_SECONDS = Histogram(
    "cityops_report_seconds", "Time to build one report, by report", ["report"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
