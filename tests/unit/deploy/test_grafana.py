"""The Grafana dashboard: valid, and every product metric is on it under the name Prometheus scrapes."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import generate_latest

import streams.web.metrics  # noqa: F401  (registers the web layer's metrics)
from streams.metrics import REGISTRY
from tests import REPO_ROOT

ROOT = REPO_ROOT
DASHBOARD = ROOT / "deploy" / "grafana" / "cityops-dashboard.json"


def exported_names() -> set[str]:
    """Sample names in the exposition (counters end in _total, histograms in _bucket/_sum/_count)."""
    names = set()
    for family in REGISTRY.collect():
        for sample in family.samples:
            names.add(sample.name)
        if family.type == "gauge":
            names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:cityops|process)_[a-z0-9_]+)\b", expr))


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] == "CityOps"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for target in panel.get("targets", []):
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert panel["datasource"]["uid"] == "${datasource}"


def test_every_metric_is_on_the_dashboard() -> None:
    used = {name for expr in expressions() for name in metric_names(expr)}
    families = {f.name for f in REGISTRY.collect()}
    missing = [f for f in families if not any(u == f or u.startswith(f + "_") for u in used)]
    assert not missing, f"add a panel to {DASHBOARD.name} for {missing}"


def test_dashboard_and_alert_rules_name_only_metrics_that_exist() -> None:
    exported = exported_names()
    rules = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "monitoring.yaml").read_text())
    rule_exprs = [r["expr"] for doc in rules if doc["kind"] == "PrometheusRule"
                  for g in doc["spec"]["groups"] for r in g["rules"]]
    for expr in expressions() + rule_exprs:
        unknown = metric_names(expr) - exported
        assert not unknown, f"{expr}: {unknown} is not exported (counters end in _total)"


def test_metrics_endpoint_exposes_them() -> None:
    text = generate_latest(REGISTRY).decode()
    assert "cityops_open311_requests" in text and "cityops_console_clients" in text
